/**
 * GET config / pending and the config writes: qemu PUT (sync, null) and POST (task `qmconfig`,
 * `background_delay`), lxc PUT (qemu-server `PVE::API2::Qemu` `vm_config`, `update_vm`,
 * `update_vm_async`; pve-container `PVE::API2::LXC::Config`). Pre-checks are synchronous for
 * both verbs; the change goes through the pending model (see ConfigWrite.ts).
 */
import { Either } from "effect"
import { settableSpec } from "../ConfigKeys.js"
import { lockTimeoutText } from "../Flock.js"
import { digestOf, type GuestKind } from "../GuestState.js"
import { boolSpec, formats, intSpec, nodeSpec, type ParamSpec, snapnameSpec, strSpec, vmidSpec } from "../Params.js"
import { die, ok, paramFail, type Reply } from "../Reply.js"
import { applyChange, precheckWrite } from "./ConfigWrite.js"
import {
  check,
  type Ctx,
  findGuest,
  guestCall,
  guestParams,
  guestRequest,
  kindOf,
  loadGuest,
  notExistText,
  uriNode,
  uriVmid
} from "./Context.js"
import { mergedConfig, typedConfig, typedValue } from "./Views.js"

export const getConfig = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const params = { ...guestParams, current: boolSpec, snapshot: snapnameSpec }
    const { kind, node, vmid, values } = yield* guestCall(ctx, { priv: "VM.Audit", params })
    const { current, snapshot } = values
    if (current !== undefined && snapshot !== undefined) {
      const text = "cannot use 'snapshot' parameter with 'current'"
      return paramFail({ snapshot: text, current: text })
    }
    const guest = yield* loadGuest(ctx, kind, node, vmid)
    let shown: ReadonlyMap<string, string>
    if (snapshot !== undefined) {
      const snap = guest.snapshots.get(snapshot)
      if (snap === undefined) return die(`snapshot '${snapshot}' does not exist`)
      shown = snap
    } else shown = current === "1" ? guest.config : mergedConfig(guest)
    return ok({ ...typedConfig(guest, shown), digest: digestOf(guest) })
  }))

export const getPending = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const { guest } = yield* guestRequest(ctx, { priv: "VM.Audit", params: guestParams })
    const keys = [...new Set([...guest.config.keys(), ...guest.pending.keys(), ...guest.pendingDelete.keys()])].sort()
    const rows: Array<Record<string, unknown>> = keys.map((key) => {
      const row: Record<string, unknown> = { key }
      const cur = guest.config.get(key)
      if (cur !== undefined) row["value"] = typedValue(guest, key, cur)
      const pend = guest.pending.get(key)
      if (pend !== undefined) row["pending"] = typedValue(guest, key, pend)
      const del = guest.pendingDelete.get(key)
      if (del !== undefined) row["delete"] = del ? 2 : 1
      return row
    })
    rows.push({ key: "digest", value: digestOf(guest) })
    return ok(rows)
  }))

const commonSpecs = (kind: GuestKind, async: boolean): Record<string, ParamSpec> => ({
  node: nodeSpec,
  vmid: vmidSpec,
  delete: { type: "string", list: true, format: formats.configIdList },
  revert: { type: "string", list: true, format: formats.configIdList },
  digest: strSpec(40),
  ...(kind === "qemu" ? { skiplock: boolSpec, force: boolSpec } : {}),
  ...(async ? { background_delay: intSpec(1, 30) } : {})
})

/**
 * Runs `body` holding the guest's config flock (pve-guest-common
 * `PVE::AbstractConfig::lock_config`): at once when it is free, else after the holder (a
 * running power or config task) lets go, or 500 "can't lock file … - got timeout" when that
 * takes longer than the flock timeout.
 */
const underFlock = (ctx: Ctx, kind: GuestKind, vmid: number, body: () => Reply): Reply | Promise<Reply> => {
  const flocks = ctx.cluster.tasks.flocks
  const now = flocks.tryAcquire(vmid)
  if (now !== undefined) {
    const reply = body()
    now()
    return reply
  }
  return flocks.acquirePromise(vmid).then((release) => {
    if (release === undefined) return die(lockTimeoutText(kind, vmid))
    const reply = body()
    release()
    return reply
  })
}

const failText = (r: Reply): string | undefined => (r._tag === "Fail" ? r.message : undefined)

/**
 * Unlike the other guest endpoints, parameters are verified before privileges: precheckWrite
 * then checks any `VM.Config.*`, and each key's own privilege (ConfigWrite.ts). Keep that order.
 *
 * Locking as in PVE: qemu checks digest/lock/balloon once before locking and again under the
 * flock (qemu-server `PVE::API2::Qemu` `$update_vm_api`, `load_and_check_config`); POST does
 * the second round and the write in its `qmconfig` worker. lxc does all of it under the flock
 * (pve-container `PVE::API2::LXC::Config` update_vm).
 */
export const putConfig = (async: boolean) => (ctx: Ctx): Reply | Promise<Reply> =>
  Either.merge(Either.gen(function*() {
    const kind = kindOf(ctx.uri["kind"])
    const vmid = uriVmid(ctx)
    const node = uriNode(ctx)
    const common = commonSpecs(kind, async)
    const values = yield* check(ctx, (key) =>
      (Object.hasOwn(common, key) ? common[key] : undefined) ?? settableSpec(kind, key))
    const change = yield* precheckWrite(ctx, kind, values)
    const early = yield* loadGuest(ctx, kind, node, vmid)
    if (kind === "qemu") {
      const guard = change.guard(early)
      if (guard !== undefined) {
        return guard
      }
    }
    if (!async) {
      return underFlock(ctx, kind, vmid, () =>
        Either.merge(Either.gen(function*() {
          const guest = yield* loadGuest(ctx, kind, node, vmid)
          const refused = change.guard(guest) ?? change.check(guest)
          if (refused !== undefined) {
            return refused
          }
          applyChange(ctx, guest, change)
          return ok(null)
        })))
    }
    const task = ctx.cluster.tasks.spawn(node, "qmconfig", String(vmid), ctx.token.tokenid, {
      flock: { vmid, kind, hold: "task" },
      begin: () => {
        const guest = findGuest(ctx.cluster, node, kind, vmid)
        if (guest === undefined) {
          return notExistText(kind, node, vmid)
        }
        const refused = change.guard(guest) ?? change.check(guest)
        return refused === undefined ? undefined : failText(refused)
      },
      finish: () => {
        const guest = findGuest(ctx.cluster, node, kind, vmid)
        if (guest === undefined) {
          return { error: notExistText(kind, node, vmid) }
        }
        applyChange(ctx, guest, change, task.upid)
        return {}
      }
    })
    const delay = change.values["background_delay"]
    if (delay === undefined) {
      return ok(task.upid)
    }
    // qemu-server `PVE::API2::Qemu::update_vm_async`: wait up to background_delay s; null when
    // done OK, 500 when it failed, else the UPID.
    return ctx.cluster.tasks.waitFor(task, Number(delay) * 1000).then((t) =>
      t.status === "running"
        ? ok(t.upid)
        : t.exitstatus === "OK" || /^WARNINGS: \d+$/.test(t.exitstatus ?? "")
        ? ok(null)
        : die(`failed to update VM ${vmid}: ${t.exitstatus ?? ""}`)
    )
  }))
