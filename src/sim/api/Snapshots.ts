/**
 * Snapshots (qemu-server `PVE::API2::Qemu` `snapshot_list`, `snapshot`, `rollback`,
 * `delsnapshot`; pve-container `PVE::API2::LXC::Snapshot`; pve-guest-common
 * `PVE::AbstractConfig::snapshot_create` / `snapshot_rollback` / `snapshot_delete`): list in
 * random order plus the synthetic `current` entry;
 * create/rollback/delete run as tasks whose checks (template, lock, duplicate, missing)
 * happen inside the task, holding lock `snapshot` / `rollback` / `snapshot-delete` while
 * they run. Rollback force-stops a running guest before it locks, and restores the
 * snapshot's config.
 */
import { Either } from "effect"
import { digestOf, type GuestKind, type GuestState, readDescription, storeDescription, touched } from "../GuestState.js"
import { boolSpec, snapnameSpec, strSpec } from "../Params.js"
import { die, ok, type Reply } from "../Reply.js"
import {
  type Ctx,
  findGuest,
  type GuestCall,
  guestCall,
  guestParams,
  guestRequest,
  isTemplate,
  loadGuest,
  lockError,
  need,
  notExistText,
  vmPath
} from "./Context.js"
import { requestPower } from "./Power.js"
import { type PowerCall, startGuest, stopGuest } from "./PowerTasks.js"
import { typedConfig } from "./Views.js"

const prefix = (kind: GuestKind): string => (kind === "qemu" ? "qm" : "vz")

export const listSnapshots = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const { kind, guest } = yield* guestRequest(ctx, { priv: "VM.Audit", params: guestParams })
    const rows = [...guest.snapshots].map(([name, s]) => {
      const desc = s.get("description")
      const row: Record<string, unknown> = {
        name,
        snaptime: Number(s.get("snaptime") ?? "0"),
        description: desc === undefined ? "" : readDescription(kind, desc)
      }
      const parent = s.get("parent")
      if (parent !== undefined) row["parent"] = parent
      const state = s.get("snapstate")
      if (state !== undefined) row["snapstate"] = state
      if (kind === "qemu") row["vmstate"] = s.get("vmstate") === "1" ? 1 : 0
      return row
    })
    const current: Record<string, unknown> = {
      name: "current",
      digest: digestOf(guest),
      running: guest.running ? 1 : 0,
      description: "You are here!"
    }
    const parent = guest.config.get("parent")
    if (parent !== undefined) current["parent"] = parent
    return ok([...ctx.cluster.prng.shuffle(rows), current])
  }))

const reserved = (kind: GuestKind, name: string): boolean =>
  name === "current" || (kind === "qemu" ? name.toLowerCase() === "pending" : name === "vzdump")

const setLock = (g: GuestState, lock: string | undefined): void => {
  if (lock === undefined) g.config.delete("lock")
  else g.config.set("lock", lock)
  touched(g)
}

/** The guest as it is when a task step runs: it may have gone or changed since the request. */
const finder = (ctx: Ctx, { kind, node, vmid }: GuestCall) => (): GuestState | undefined =>
  findGuest(ctx.cluster, node, kind, vmid)

/** PVE's snapshot operations lock the config file only around their prepare and commit steps. */
const stepsFlock = ({ kind, vmid }: GuestCall) => ({ vmid, kind, hold: "steps" as const })

/**
 * pve-guest-common `PVE::AbstractConfig::snapshot_create`: `__snapshot_prepare` (template,
 * lock, duplicate name; lock `snapshot` and a `snapstate: prepare` section), then
 * `__snapshot_commit` (lock must still be `snapshot`; parent set, lock removed).
 */
export const createSnapshot = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const params = (kind: GuestKind) => ({
      ...guestParams,
      snapname: snapnameSpec,
      description: strSpec(8192),
      ...(kind === "qemu" ? { vmstate: boolSpec } : {})
    })
    const call = yield* guestCall(ctx, { priv: "VM.Snapshot", params, required: ["snapname"] })
    const { kind, vmid, node, values } = call
    const find = finder(ctx, call)
    const snapname = values["snapname"] ?? ""
    if (reserved(kind, snapname)) return die(`unable to use snapshot name '${snapname}' (reserved name)`)
    // qemu loads the config before forking (sync 500); lxc fails inside the task
    // (qemu-server `PVE::API2::Qemu::snapshot`, pve-container `PVE::API2::LXC::Snapshot::snapshot`).
    if (kind === "qemu") yield* loadGuest(ctx, kind, node, vmid)
    const task = ctx.cluster.tasks.spawn(node, `${prefix(kind)}snapshot`, String(vmid), ctx.token.tokenid, {
      flock: stepsFlock(call),
      begin: () => {
        const g = find()
        if (g === undefined) return notExistText(kind, node, vmid)
        if (isTemplate(g)) return "you can't take a snapshot if it's a template"
        const locked = lockError(g)
        if (locked !== undefined) return locked
        if (g.snapshots.has(snapname)) return `snapshot name '${snapname}' already used`
        const section = new Map([...g.config].filter(([k]) => k !== "description" && k !== "lock"))
        section.set("snapstate", "prepare")
        section.set("snaptime", String(Math.floor(Date.now() / 1000)))
        if (kind === "qemu") section.set("vmstate", values["vmstate"] === "1" && g.running ? "1" : "0")
        const d = storeDescription(values["description"] ?? "")
        if (d !== undefined) section.set("description", d)
        g.snapshots.set(snapname, section)
        setLock(g, "snapshot")
        return undefined
      },
      finish: () => {
        const g = find()
        if (g === undefined) return { error: notExistText(kind, node, vmid) }
        if (g.config.get("lock") !== "snapshot") return { error: "missing snapshot lock" }
        const section = g.snapshots.get(snapname)
        if (section === undefined) return { error: `snapshot '${snapname}' does not exist` }
        section.delete("snapstate")
        g.config.set("parent", snapname)
        setLock(g, undefined)
        ctx.cluster.record(g, "snapshot-create", { snapname, ...values }, ctx.token.tokenid, task.upid)
        return {}
      }
    })
    return ok(task.upid)
  }))

/** Config keys of a snapshot section that are not guest config. */
const SNAPSHOT_ONLY = ["snaptime", "vmstate", "snapstate", "description"]

/**
 * Rollback, in the order of pve-guest-common `PVE::AbstractConfig::snapshot_rollback`. Prepare
 * (under the flock, when the task starts): template, snapshot exists, not incomplete, the
 * lock; then the guest is stopped (qemu-server `PVE::QemuConfig::__snapshot_rollback_vm_stop`,
 * pve-container `PVE::LXC::Config::__snapshot_rollback_vm_stop`: a hard stop), and only then
 * lock `rollback` is written — so a running guest is never seen locked `rollback`. Commit (at
 * the end): the snapshot's config becomes current, parent set, lock removed; a qemu snapshot
 * with RAM state starts the VM inside this task.
 *
 * `start=1` is not part of this task: the API handler's worker calls the start API afterwards
 * (qemu-server `PVE::API2::Qemu` rollback — only if the VM is not already running —, pve-container
 * `PVE::API2::LXC::Snapshot` rollback), which forks its own `qmstart`/`vzstart` task (or
 * `hastart` for an HA-managed guest) under the same user; the rollback task ends without
 * waiting for it.
 */
export const rollbackSnapshot = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const call = yield* guestCall(ctx, {
      priv: ["VM.Snapshot", "VM.Snapshot.Rollback"],
      params: { ...guestParams, snapname: snapnameSpec, start: boolSpec }
    })
    const { kind, vmid, node, values } = call
    const find = finder(ctx, call)
    if (kind === "qemu" && values["start"] === "1") yield* need(ctx, vmPath(vmid), "VM.PowerMgmt")
    const snapname = values["snapname"] ?? ""
    const user = ctx.token.tokenid
    const task = ctx.cluster.tasks.spawn(node, `${prefix(kind)}rollback`, String(vmid), user, {
      flock: stepsFlock(call),
      begin: () => {
        const g = find()
        if (g === undefined) return notExistText(kind, node, vmid)
        if (isTemplate(g)) return "you can't rollback if vm is a template"
        const snap = g.snapshots.get(snapname)
        if (snap === undefined) return `snapshot '${snapname}' does not exist`
        const state = snap.get("snapstate")
        if (state !== undefined) return `unable to rollback to incomplete snapshot (snapstate = ${state})`
        const locked = lockError(g)
        if (locked !== undefined) return locked
        if (g.running) stopGuest(g)
        setLock(g, "rollback")
        return undefined
      },
      finish: () => {
        const g = find()
        if (g === undefined) return { error: notExistText(kind, node, vmid) }
        if (isTemplate(g)) return { error: "you can't rollback if vm is a template" }
        const snap = g.snapshots.get(snapname)
        if (snap === undefined) return { error: `snapshot '${snapname}' does not exist` }
        if (g.running) return { error: `unable to rollback vm ${vmid}: vm is running` }
        if (g.config.get("lock") !== "rollback") return { error: "got wrong lock" }
        const description = g.config.get("description")
        g.config = new Map([...snap].filter(([k]) => !SNAPSHOT_ONLY.includes(k)))
        if (description !== undefined) g.config.set("description", description)
        g.config.set("parent", snapname)
        g.pending.clear()
        g.pendingDelete.clear()
        touched(g)
        if (snap.get("vmstate") === "1") startGuest(ctx.cluster, g)
        ctx.cluster.record(g, "snapshot-rollback", { snapname, ...values }, user, task.upid)
        const startAfter = values["start"] === "1" && (kind === "lxc" || !g.running)
        return startAfter
          ? { after: () => startSeparately({ cluster: ctx.cluster, user, kind, node, vmid, params: {} }) }
          : {}
      }
    })
    return ok(task.upid)
  }))

/** The start API called from the rollback worker: its own task; a refusal fails the rollback. */
const startSeparately = (call: PowerCall): string | undefined =>
  Either.match(requestPower(call, "start", () => true), {
    onLeft: (reply) => (reply._tag === "Fail" ? reply.message : undefined),
    onRight: () => undefined
  })

/**
 * pve-guest-common `PVE::AbstractConfig::snapshot_delete`: snapshot exists, then `set_lock`
 * (lock check, lock `snapshot-delete`), then under the flock the template check (the lock
 * stays when it fails, as in PVE) and `snapstate: delete`; at the end the section goes and
 * children are re-parented.
 */
export const deleteSnapshot = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const call = yield* guestCall(ctx, {
      priv: "VM.Snapshot",
      params: { ...guestParams, snapname: snapnameSpec, force: boolSpec }
    })
    const { kind, vmid, node, values } = call
    const find = finder(ctx, call)
    const snapname = values["snapname"] ?? ""
    const task = ctx.cluster.tasks.spawn(node, `${prefix(kind)}delsnapshot`, String(vmid), ctx.token.tokenid, {
      flock: stepsFlock(call),
      begin: () => {
        const g = find()
        if (g === undefined) return notExistText(kind, node, vmid)
        const snap = g.snapshots.get(snapname)
        if (snap === undefined) return `snapshot '${snapname}' does not exist`
        const locked = lockError(g)
        if (locked !== undefined) return locked
        setLock(g, "snapshot-delete")
        if (isTemplate(g)) return "you can't delete a snapshot if vm is a template"
        snap.set("snapstate", "delete")
        touched(g)
        return undefined
      },
      finish: () => {
        const g = find()
        if (g === undefined) return { error: notExistText(kind, node, vmid) }
        if (g.config.get("lock") !== "snapshot-delete") {
          return { error: "encountered invalid lock, expected 'snapshot-delete'" }
        }
        const snap = g.snapshots.get(snapname)
        if (snap === undefined) return { error: `snapshot '${snapname}' does not exist` }
        const parent = snap.get("parent")
        g.snapshots.delete(snapname)
        for (const m of [g.config, ...g.snapshots.values()]) {
          if (m.get("parent") !== snapname) continue
          if (parent === undefined) m.delete("parent")
          else m.set("parent", parent)
        }
        setLock(g, undefined)
        ctx.cluster.record(g, "snapshot-delete", { snapname, ...values }, ctx.token.tokenid, task.upid)
        return {}
      }
    })
    return ok(task.upid)
  }))

export const getSnapshotConfig = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const { guest, values } = yield* guestRequest(ctx, {
      priv: ["VM.Snapshot", "VM.Snapshot.Rollback", "VM.Audit"],
      params: { ...guestParams, snapname: snapnameSpec }
    })
    const snapname = values["snapname"] ?? ""
    const snap = guest.snapshots.get(snapname)
    return snap === undefined ? die(`snapshot '${snapname}' does not exist`) : ok(typedConfig(guest, snap))
  }))
