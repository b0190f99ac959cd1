/**
 * status/current and the power actions (qemu-server `PVE::API2::Qemu` `vm_status`, `vm_start`,
 * `vm_stop`, `vm_shutdown`, `vm_reboot`; pve-container `PVE::API2::LXC::Status`), with PVE's
 * sync-vs-task error split: what the API handler checks before forking is a synchronous 500;
 * the rest happens in the worker (PowerTasks.ts), which checks when it starts and changes the
 * guest when it ends.
 * HA-managed guests get an `hastart`/`hastop` request task instead (Ha.ts).
 *
 * Just over 300 lines because it restates the handlers' checks one by one, qemu and lxc side by
 * side, so each can be read against its upstream method; the worker half is already PowerTasks.ts.
 */
import { Either } from "effect"
import { effectivePrivs } from "../Access.js"
import { type GuestKind, type GuestState, haManaged } from "../GuestState.js"
import { type Lrm, scheduleCrm } from "../Ha.js"
import { boolSpec, intSpec, nodeSpec, type Schema, strSpec } from "../Params.js"
import { die, ok, paramFail, permFail, type Reply } from "../Reply.js"
import type { TaskRecord } from "../Tasks.js"
import { type Ctx, guestCall, guestParams, guestRequest, vmPath } from "./Context.js"
import {
  findCall,
  lxcReboot,
  lxcStart,
  lxcStop,
  missingOnNode,
  type PowerCall,
  qemuReboot,
  qemuStart,
  qemuStop,
  truthy
} from "./PowerTasks.js"
import { qemuResume, qemuSuspend } from "./Suspend.js"
import { statusCurrent } from "./Views.js"

export { applyPending, startGuest } from "./PowerTasks.js"

export const getStatus = (ctx: Ctx): Reply =>
  Either.merge(
    Either.map(guestRequest(ctx, { priv: "VM.Audit", params: guestParams }), ({ guest }) => ok(statusCurrent(guest)))
  )

export type PowerAction = "start" | "stop" | "shutdown" | "reboot" | "suspend" | "resume"

const schemas: Record<GuestKind, Partial<Record<PowerAction, Schema>>> = {
  qemu: {
    start: {
      ...guestParams,
      skiplock: boolSpec,
      timeout: intSpec(0),
      machine: strSpec(256),
      "force-cpu": strSpec(),
      stateuri: strSpec(128),
      migratedfrom: nodeSpec,
      migration_type: { type: "string", enum: ["secure", "insecure"] },
      migration_network: strSpec(),
      targetstorage: strSpec(),
      "with-conntrack-state": boolSpec,
      "nets-host-mtu": strSpec()
    },
    stop: {
      ...guestParams,
      skiplock: boolSpec,
      timeout: intSpec(0),
      keepActive: boolSpec,
      migratedfrom: nodeSpec,
      "overrule-shutdown": boolSpec
    },
    shutdown: { ...guestParams, skiplock: boolSpec, timeout: intSpec(0), forceStop: boolSpec, keepActive: boolSpec },
    reboot: { ...guestParams, timeout: intSpec(0) },
    suspend: { ...guestParams, skiplock: boolSpec, todisk: boolSpec, statestorage: strSpec() },
    resume: { ...guestParams, skiplock: boolSpec, nocheck: boolSpec }
  },
  lxc: {
    start: { ...guestParams, skiplock: boolSpec, debug: boolSpec },
    stop: { ...guestParams, skiplock: boolSpec, "overrule-shutdown": boolSpec },
    shutdown: { ...guestParams, timeout: intSpec(0), forceStop: boolSpec },
    reboot: { ...guestParams, timeout: intSpec(0) }
  }
}

/** Whether the caller holds `priv` on `path` (the handlers' `$rpcenv->check`). */
export type Privs = (path: string, priv: string) => boolean

const ROOT = "root@pam"

/** `raise_param_exc({ NAME => "Only root may use this option." })` for the first root-only parameter set. */
const rootOnly = (c: PowerCall, names: ReadonlyArray<string>): Reply | undefined => {
  if (c.user === ROOT) return undefined
  const name = names.find((n) => truthy(c.params[n]))
  return name === undefined ? undefined : paramFail({ [name]: "Only root may use this option." })
}

/** pve-ha-manager `PVE::HA::Config::vm_is_ha_managed`: by vmid, cluster-wide. */
const underHa = (c: PowerCall): GuestState | undefined => {
  const g = c.cluster.guests.get(c.vmid)
  return g !== undefined && haManaged(g) && c.byHa !== true ? g : undefined
}

/** The HA resource agent: the real power tasks, run as root@pam (pve-ha-manager `PVE::HA::Resources::PVEVM`). */
const lrm = (c: PowerCall): Lrm => {
  const agent = (g: GuestState, params: Record<string, string>): PowerCall => ({
    cluster: c.cluster,
    user: ROOT,
    kind: g.kind,
    node: g.node,
    vmid: g.vmid,
    params,
    byHa: true
  })
  const task = (e: Either.Either<TaskRecord, Reply>): TaskRecord | undefined => Either.getOrUndefined(e)
  return {
    start: (g) => task(requestPower(agent(g, {}), "start", () => true)),
    stop: (g, timeout) =>
      task(
        timeout > 0
          ? requestPower(agent(g, { timeout: String(timeout), forceStop: "1" }), "shutdown", () => true)
          : requestPower(agent(g, {}), "stop", () => true)
      )
  }
}

/**
 * The `hastart`/`hastop` worker: `ha-manager set SID --state started` or `ha-manager
 * crm-command stop SID TIMEOUT` (qemu-server `PVE::API2::Qemu` / pve-container
 * `PVE::API2::LXC::Status` vm_start, vm_stop, vm_shutdown). The guest is not touched here.
 */
const haRequest = (c: PowerCall, stopTimeout: number | undefined): TaskRecord => {
  const what = stopTimeout === undefined ? "start" : "stop"
  return c.cluster.tasks.spawn(c.node, `ha${what}`, String(c.vmid), c.user, {
    log: [`Requesting HA ${what} for ${c.kind === "qemu" ? "VM" : "CT"} ${c.vmid}`],
    finish: () => {
      const ha = c.cluster.guests.get(c.vmid)?.ha
      if (ha !== undefined) {
        if (stopTimeout === undefined) ha.state = "started"
        else ha.stopCommand = stopTimeout
        scheduleCrm(c.cluster, c.vmid, lrm(c))
      }
      return {}
    }
  })
}

/**
 * `overrule-shutdown` (pve-guest-common `PVE::GuestHelpers::abort_guest_tasks`): running
 * shutdown tasks of the guest that the caller may abort (Sys.Modify on the node, or its own /
 * its token's tasks) are killed first; returns the log line naming them.
 */
const overrule = (c: PowerCall, privs: Privs): ReadonlyArray<string> => {
  const type = c.kind === "qemu" ? "qmshutdown" : "vzshutdown"
  const all = privs(`/nodes/${c.node}`, "Sys.Modify")
  const aborted: Array<string> = []
  for (const t of c.cluster.tasks.all) {
    if (t.status !== "running" || t.type !== type || t.id !== String(c.vmid) || t.node !== c.node) continue
    const owner = t.user.includes("!") ? t.user.slice(0, t.user.indexOf("!")) : t.user
    if (!all && t.user !== c.user && owner !== c.user) continue
    c.cluster.tasks.interrupt(t)
    aborted.push(t.upid)
  }
  return aborted.length === 0 ? [] : [`overruled ${type} tasks: ${aborted.join(", ")}`]
}

const withLog = (task: TaskRecord, lines: ReadonlyArray<string>): TaskRecord => {
  task.log.unshift(...lines)
  return task
}

const qemuRequest = (c: PowerCall, action: PowerAction, privs: Privs): Either.Either<TaskRecord, Reply> => {
  const g = findCall(c)
  const ha = underHa(c)
  // qemu-server `PVE::QemuServer::vm_is_paused($vmid, 1)`: paused, prelaunch or suspended.
  const paused = g !== undefined && g.running && g.runState !== "running"
  switch (action) {
    case "start": {
      const refused = rootOnly(c, [
        "stateuri",
        "skiplock",
        "migratedfrom",
        "migration_type",
        "migration_network",
        "targetstorage",
        "force-cpu",
        "with-conntrack-state",
        "nets-host-mtu"
      ])
      if (refused !== undefined) return Either.left(refused)
      return Either.right(ha !== undefined && !truthy(c.params["stateuri"]) ? haRequest(c, undefined) : qemuStart(c))
    }
    case "stop": {
      const refused = rootOnly(c, ["skiplock", "keepActive", "migratedfrom"])
      if (refused !== undefined) return Either.left(refused)
      if (ha !== undefined && c.params["migratedfrom"] === undefined) {
        if (truthy(c.params["overrule-shutdown"])) {
          return Either.left(paramFail({ "overrule-shutdown": "Not applicable for HA resources." }))
        }
        return Either.right(haRequest(c, 0))
      }
      const lines = truthy(c.params["overrule-shutdown"]) ? overrule(c, privs) : []
      return Either.right(withLog(qemuStop(c, "stop"), lines))
    }
    case "shutdown": {
      const refused = rootOnly(c, ["skiplock", "keepActive"])
      if (refused !== undefined) return Either.left(refused)
      // A paused VM would take the powerdown request with it when resumed: refused unless
      // forceStop, which turns the shutdown into a stop (qemu-server `PVE::API2::Qemu` vm_shutdown).
      if (paused && !truthy(c.params["forceStop"])) return Either.left(die("VM is paused - cannot shutdown"))
      if (ha !== undefined) return Either.right(haRequest(c, Number(c.params["timeout"] ?? "60")))
      return Either.right(qemuStop(c, "shutdown"))
    }
    case "reboot":
      if (paused) return Either.left(die("VM is paused - cannot shutdown"))
      if (g === undefined) return Either.left(die(missingOnNode(c)))
      if (!g.running) return Either.left(die(`VM ${c.vmid} not running`))
      return Either.right(qemuReboot(c))
    case "suspend": {
      const refused = rootOnly(c, ["skiplock"])
      if (refused !== undefined) return Either.left(refused)
      if (g === undefined) return Either.left(die(missingOnNode(c)))
      if (!g.running) return Either.left(die(`VM ${c.vmid} not running`))
      const toDisk = truthy(c.params["todisk"])
      if (toDisk && ha !== undefined) return Either.left(die("Cannot suspend HA managed VM to disk"))
      if (toDisk && !privs(vmPath(c.vmid), "VM.Config.Disk")) {
        return Either.left(permFail(`${vmPath(c.vmid)}, VM.Config.Disk`))
      }
      return Either.right(qemuSuspend(c))
    }
    case "resume": {
      const refused = rootOnly(c, ["skiplock", "nocheck"])
      if (refused !== undefined) return Either.left(refused)
      const hibernated = g?.config.get("lock") === "suspended"
      if (!hibernated && g === undefined) return Either.left(die(missingOnNode(c)))
      if (!hibernated && g?.running !== true) return Either.left(die(`VM ${c.vmid} not running`))
      return Either.right(qemuResume(c, hibernated))
    }
  }
}

/** pve-container `PVE::API2::LXC::Status`: `check_running` needs no config, so a missing CT is "not running". */
const lxcRequest = (c: PowerCall, action: PowerAction, privs: Privs): Either.Either<TaskRecord, Reply> => {
  const running = findCall(c)?.running === true
  const ha = underHa(c)
  switch (action) {
    case "start": {
      const refused = rootOnly(c, ["skiplock"])
      if (refused !== undefined) return Either.left(refused)
      if (running) return Either.left(die(`CT ${c.vmid} already running`))
      return Either.right(ha !== undefined ? haRequest(c, undefined) : lxcStart(c))
    }
    case "stop": {
      const refused = rootOnly(c, ["skiplock"])
      if (refused !== undefined) return Either.left(refused)
      if (!running) return Either.left(die(`CT ${c.vmid} not running`))
      if (ha !== undefined) {
        if (truthy(c.params["overrule-shutdown"])) {
          return Either.left(paramFail({ "overrule-shutdown": "Not applicable for HA resources." }))
        }
        return Either.right(haRequest(c, 0))
      }
      const lines = truthy(c.params["overrule-shutdown"]) ? overrule(c, privs) : []
      return Either.right(withLog(lxcStop(c, "stop"), lines))
    }
    case "shutdown":
      if (!running) return Either.left(die(`CT ${c.vmid} not running`))
      if (ha !== undefined) return Either.right(haRequest(c, Number(c.params["timeout"] ?? "60")))
      return Either.right(lxcStop(c, "shutdown"))
    case "reboot":
      // sic: "VM", as pve-container's vm_reboot handler says.
      if (!running) return Either.left(die(`VM ${c.vmid} not running`))
      return Either.right(lxcReboot(c))
    case "suspend":
    case "resume":
      // Unreachable: the routes register suspend/resume for qemu only (docs/simulator.md).
      return Either.left(die(`${action} is not simulated for containers`))
  }
}

/**
 * The API's synchronous part of a power action and its task: the task, or the refusal. Also
 * called by the rollback worker (`start=1`) and the HA resource agent, as PVE calls the API
 * methods directly from those workers (no permission check there).
 */
export const requestPower = (c: PowerCall, action: PowerAction, privs: Privs): Either.Either<TaskRecord, Reply> =>
  c.kind === "qemu" ? qemuRequest(c, action, privs) : lxcRequest(c, action, privs)

const requestParams = (values: Record<string, string>): Record<string, string> => {
  const { node: _n, vmid: _v, ...rest } = values
  return rest
}

export const postPower = (action: PowerAction) => (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const { kind, vmid, node, values } = yield* guestCall(ctx, {
      priv: "VM.PowerMgmt",
      params: (kind) => schemas[kind][action] ?? guestParams
    })
    // The schema's `requires => 'todisk'` (pve-common `PVE::JSONSchema::check_object`).
    if (values["statestorage"] !== undefined && values["todisk"] === undefined) {
      return paramFail({ todisk: "missing property required by 'statestorage'" })
    }
    const call: PowerCall = {
      cluster: ctx.cluster,
      user: ctx.token.tokenid,
      kind,
      node,
      vmid,
      params: requestParams(values)
    }
    const task = yield* requestPower(call, action, (path, priv) => effectivePrivs(ctx.token, path).has(priv))
    return ok(task.upid)
  }))
