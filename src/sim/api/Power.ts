/**
 * status/current and the power actions (pve-api.md §4), with the sync-vs-task error split
 * of §1.4: qemu checks (lock, template, already running) run inside the task; lxc
 * "already running"/"not running" and every reboot "not running" are synchronous 500s.
 * The guest changes when the task finishes; pending config is applied on start/reboot.
 */
import { Either } from "effect"
import { touched, type GuestKind, type GuestState } from "../GuestState.js"
import { boolSpec, intSpec, nodeSpec, strSpec, type Schema } from "../Params.js"
import { die, ok, type Reply } from "../Reply.js"
import type { TaskOutcome } from "../Tasks.js"
import { findGuest, guestCall, guestParams, guestRequest, isTemplate, lockError, notExistText, skiplockError, type Ctx } from "./Context.js"
import { statusCurrent } from "./Views.js"

export const getStatus = (ctx: Ctx): Reply =>
  Either.merge(Either.map(guestRequest(ctx, { priv: "VM.Audit", params: guestParams }), ({ guest }) => ok(statusCurrent(guest))))

export type PowerAction = "start" | "stop" | "shutdown" | "reboot"

const schemas: Record<GuestKind, Record<PowerAction, Schema>> = {
  qemu: {
    start: {
      ...guestParams, skiplock: boolSpec, timeout: intSpec(0, 86400), machine: strSpec(256), "force-cpu": strSpec(),
      stateuri: strSpec(128), migratedfrom: nodeSpec, migration_type: { type: "string", enum: ["secure", "insecure"] },
      migration_network: strSpec(), targetstorage: strSpec()
    },
    stop: { ...guestParams, skiplock: boolSpec, timeout: intSpec(0), keepActive: boolSpec, migratedfrom: nodeSpec, "overrule-shutdown": boolSpec },
    shutdown: { ...guestParams, skiplock: boolSpec, timeout: intSpec(0), forceStop: boolSpec, keepActive: boolSpec },
    reboot: { ...guestParams, timeout: intSpec(0) }
  },
  lxc: {
    start: { ...guestParams, skiplock: boolSpec, debug: boolSpec },
    stop: { ...guestParams, skiplock: boolSpec, "overrule-shutdown": boolSpec },
    shutdown: { ...guestParams, timeout: intSpec(0), forceStop: boolSpec },
    reboot: { ...guestParams, timeout: intSpec(0) }
  }
}

const taskType = (kind: GuestKind, action: PowerAction): string => `${kind === "qemu" ? "qm" : "vz"}${action}`

export const applyPending = (g: GuestState): boolean => {
  if (g.pending.size === 0 && g.pendingDelete.size === 0) return false
  for (const [k, v] of g.pending) g.config.set(k, v)
  for (const k of g.pendingDelete.keys()) g.config.delete(k)
  g.pending.clear()
  g.pendingDelete.clear()
  touched(g)
  return true
}

export const startGuest = (ctx: Ctx, g: GuestState): void => {
  applyPending(g)
  g.running = true
  g.startedAt = Date.now()
  g.pid = 1000 + ctx.cluster.prng.int(4_000_000)
}

const requestParams = (values: Record<string, string>): Record<string, string> => {
  const { node: _n, vmid: _v, ...rest } = values
  return rest
}

export const postPower = (action: PowerAction) => (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const { kind, vmid, node, values } = yield* guestCall(ctx, { priv: "VM.PowerMgmt", params: (kind) => schemas[kind][action] })
    const skip = skiplockError(values)
    if (skip !== undefined) return skip
    const noun = kind === "qemu" ? "VM" : "CT"
    const missingInTask = kind === "qemu" && action !== "start"
      ? `unable to find configuration file for VM ${vmid} on node '${node}'`
      : notExistText(kind, node, vmid)

    // Synchronous checks (§1.4).
    const now = findGuest(ctx.cluster, node, kind, vmid)
    if (action === "reboot") {
      if (now === undefined) return die(kind === "qemu" ? missingInTask : notExistText(kind, node, vmid))
      if (!now.running) return die(`VM ${vmid} not running`)
    } else if (kind === "lxc") {
      if (action === "start" && now?.running === true) return die(`CT ${vmid} already running`)
      if (action !== "start") {
        if (now === undefined) return die(notExistText(kind, node, vmid))
        if (!now.running) return die(`CT ${vmid} not running`)
      }
    }

    const params = requestParams(values)
    const finish = (): TaskOutcome => {
      const g = findGuest(ctx.cluster, node, kind, vmid)
      if (g === undefined) return { error: missingInTask }
      if (action === "start") {
        const locked = lockError(g)
        if (locked !== undefined) return { error: locked }
        if (isTemplate(g)) return { error: kind === "qemu" ? "you can't start a vm if it's a template" : "you can't start a CT if it's a template" }
        if (g.running) return { error: `${noun} ${vmid} already running` }
        startGuest(ctx, g)
      } else {
        // qemu stop/shutdown of a stopped VM: task OK, lock not even checked, no mutation (§4.2).
        if (!g.running) return kind === "qemu" && action !== "reboot" ? {} : { error: `${noun} ${vmid} not running` }
        const locked = lockError(g)
        if (locked !== undefined) return { error: locked }
        if (action === "reboot") startGuest(ctx, g)
        else {
          g.running = false
          g.pid = 0
        }
      }
      ctx.cluster.record(g, action, params, ctx.token.tokenid, task.upid)
      return {}
    }
    const task = ctx.cluster.tasks.spawn(node, taskType(kind, action), String(vmid), ctx.token.tokenid, { finish })
    return ok(task.upid)
  }))
