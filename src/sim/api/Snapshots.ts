/**
 * Snapshots (pve-api.md §7): list in random order plus the synthetic `current` entry;
 * create/rollback/delete run as tasks whose checks (template, lock, duplicate, missing)
 * happen inside the task, holding lock `snapshot` / `rollback` / `snapshot-delete` while
 * they run. Rollback force-stops a running guest and restores the snapshot's config.
 */
import { Either } from "effect"
import { digestOf, readDescription, storeDescription, touched, type GuestKind, type GuestState } from "../GuestState.js"
import { boolSpec, snapnameSpec, strSpec } from "../Params.js"
import { die, ok, type Reply } from "../Reply.js"
import {
  findGuest, guestCall, guestParams, guestRequest, isTemplate, loadGuest, lockError, need, notExistText, vmPath, type Ctx, type GuestCall
} from "./Context.js"
import { startGuest } from "./Power.js"
import { typedConfig } from "./Views.js"

const prefix = (kind: GuestKind): string => (kind === "qemu" ? "qm" : "vz")

export const listSnapshots = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const { kind, guest } = yield* guestRequest(ctx, { priv: "VM.Audit", params: guestParams })
    const rows = [...guest.snapshots].map(([name, s]) => {
      const desc = s.get("description")
      const row: Record<string, unknown> = {
        name, snaptime: Number(s.get("snaptime") ?? "0"), description: desc === undefined ? "" : readDescription(kind, desc)
      }
      const parent = s.get("parent")
      if (parent !== undefined) row["parent"] = parent
      const state = s.get("snapstate")
      if (state !== undefined) row["snapstate"] = state
      if (kind === "qemu") row["vmstate"] = s.get("vmstate") === "1" ? 1 : 0
      return row
    })
    const current: Record<string, unknown> = {
      name: "current", digest: digestOf(guest), running: guest.running ? 1 : 0, description: "You are here!"
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
const finder = (ctx: Ctx, { kind, node, vmid }: GuestCall) => (): GuestState | undefined => findGuest(ctx.cluster, node, kind, vmid)

export const createSnapshot = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const params = (kind: GuestKind) => ({
      ...guestParams, snapname: snapnameSpec, description: strSpec(8192), ...(kind === "qemu" ? { vmstate: boolSpec } : {})
    })
    const call = yield* guestCall(ctx, { priv: "VM.Snapshot", params, required: ["snapname"] })
    const { kind, vmid, node, values } = call
    const find = finder(ctx, call)
    const snapname = values["snapname"] ?? ""
    if (reserved(kind, snapname)) return die(`unable to use snapshot name '${snapname}' (reserved name)`)
    // qemu loads the config before forking (sync 500); lxc fails inside the task (§1.4).
    if (kind === "qemu") yield* loadGuest(ctx, kind, node, vmid)
    const body = {
      begin: (): string | undefined => {
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
        const section = g?.snapshots.get(snapname)
        if (g === undefined || section === undefined) return { error: `snapshot '${snapname}' does not exist` }
        section.delete("snapstate")
        g.config.set("parent", snapname)
        setLock(g, undefined)
        ctx.cluster.record(g, "snapshot-create", { snapname, ...values }, ctx.token.tokenid, task.upid)
        return {}
      },
      abort: () => {
        const g = find()
        if (g === undefined) return
        g.snapshots.delete(snapname)
        setLock(g, undefined)
      }
    }
    const task = ctx.cluster.tasks.spawn(node, `${prefix(kind)}snapshot`, String(vmid), ctx.token.tokenid, body)
    return ok(task.upid)
  }))

export const rollbackSnapshot = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const call = yield* guestCall(ctx, {
      priv: ["VM.Snapshot", "VM.Snapshot.Rollback"], params: { ...guestParams, snapname: snapnameSpec, start: boolSpec }
    })
    const { kind, vmid, node, values } = call
    const find = finder(ctx, call)
    if (kind === "qemu" && values["start"] === "1") yield* need(ctx, vmPath(vmid), "VM.PowerMgmt")
    const snapname = values["snapname"] ?? ""
    const task = ctx.cluster.tasks.spawn(node, `${prefix(kind)}rollback`, String(vmid), ctx.token.tokenid, {
      begin: () => {
        const g = find()
        if (g === undefined) return notExistText(kind, node, vmid)
        const snap = g.snapshots.get(snapname)
        if (snap === undefined) return `snapshot '${snapname}' does not exist`
        if (isTemplate(g)) return "you can't rollback if vm is a template"
        const locked = lockError(g)
        if (locked !== undefined) return locked
        const state = snap.get("snapstate")
        if (state !== undefined) return `unable to rollback to incomplete snapshot (snapstate = ${state})`
        setLock(g, "rollback")
        return undefined
      },
      finish: () => {
        const g = find()
        const snap = g?.snapshots.get(snapname)
        if (g === undefined || snap === undefined) return { error: `snapshot '${snapname}' does not exist` }
        g.running = false
        g.pid = 0
        const description = g.config.get("description")
        g.config = new Map([...snap].filter(([k]) => !["snaptime", "vmstate", "snapstate", "description"].includes(k)))
        if (description !== undefined) g.config.set("description", description)
        g.config.set("parent", snapname)
        g.pending.clear()
        g.pendingDelete.clear()
        setLock(g, undefined)
        if (snap.get("vmstate") === "1" || values["start"] === "1") startGuest(ctx, g)
        ctx.cluster.record(g, "snapshot-rollback", { snapname, ...values }, ctx.token.tokenid, task.upid)
        return {}
      },
      abort: () => {
        const g = find()
        if (g !== undefined) setLock(g, undefined)
      }
    })
    return ok(task.upid)
  }))

export const deleteSnapshot = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const call = yield* guestCall(ctx, { priv: "VM.Snapshot", params: { ...guestParams, snapname: snapnameSpec, force: boolSpec } })
    const { kind, vmid, node, values } = call
    const find = finder(ctx, call)
    const snapname = values["snapname"] ?? ""
    const task = ctx.cluster.tasks.spawn(node, `${prefix(kind)}delsnapshot`, String(vmid), ctx.token.tokenid, {
      begin: () => {
        const g = find()
        if (g === undefined) return notExistText(kind, node, vmid)
        const snap = g.snapshots.get(snapname)
        if (snap === undefined) return `snapshot '${snapname}' does not exist`
        if (isTemplate(g)) return "you can't delete a snapshot if vm is a template"
        const locked = lockError(g)
        if (locked !== undefined) return locked
        snap.set("snapstate", "delete")
        setLock(g, "snapshot-delete")
        return undefined
      },
      finish: () => {
        const g = find()
        const snap = g?.snapshots.get(snapname)
        if (g === undefined || snap === undefined) return { error: `snapshot '${snapname}' does not exist` }
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
      },
      abort: () => {
        const g = find()
        if (g === undefined) return
        g.snapshots.get(snapname)?.delete("snapstate")
        setLock(g, undefined)
      }
    })
    return ok(task.upid)
  }))

export const getSnapshotConfig = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const { guest, values } = yield* guestRequest(ctx, {
      priv: ["VM.Snapshot", "VM.Snapshot.Rollback", "VM.Audit"], params: { ...guestParams, snapname: snapnameSpec }
    })
    const snapname = values["snapname"] ?? ""
    const snap = guest.snapshots.get(snapname)
    return snap === undefined ? die(`snapshot '${snapname}' does not exist`) : ok(typedConfig(guest, snap))
  }))
