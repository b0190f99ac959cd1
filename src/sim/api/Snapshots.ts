/**
 * Snapshots (pve-api.md §7): list in random order plus the synthetic `current` entry;
 * create/rollback/delete run as tasks whose checks (template, lock, duplicate, missing)
 * happen inside the task, holding lock `snapshot` / `rollback` / `snapshot-delete` while
 * they run. Rollback force-stops a running guest and restores the snapshot's config.
 */
import { Either } from "effect"
import { digestOf, readDescription, storeDescription, touched, type GuestKind, type GuestState } from "../GuestState.js"
import { boolSpec, nodeSpec, snapnameSpec, strSpec, vmidSpec } from "../Params.js"
import { die, ok, type Reply } from "../Reply.js"
import { check, findGuest, isTemplate, kindOf, loadGuest, lockError, need, needAny, notExistText, uriNode, uriVmid, vmPath, type Ctx } from "./Context.js"
import { startGuest } from "./Power.js"
import { typedConfig } from "./Views.js"

const prefix = (kind: GuestKind): string => (kind === "qemu" ? "qm" : "vz")

export const listSnapshots = (ctx: Ctx): Reply => {
  const kind = kindOf(ctx.uri["kind"])
  const p = need(ctx, vmPath(uriVmid(ctx)), "VM.Audit")
  if (Either.isLeft(p)) return p.left
  const v = check(ctx, { node: nodeSpec, vmid: vmidSpec })
  if (Either.isLeft(v)) return v.left
  const g = loadGuest(ctx, kind, uriNode(ctx), uriVmid(ctx))
  if (Either.isLeft(g)) return g.left
  const guest = g.right
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
}

const reserved = (kind: GuestKind, name: string): boolean =>
  name === "current" || (kind === "qemu" ? name.toLowerCase() === "pending" : name === "vzdump")

const common = (ctx: Ctx) => {
  const kind = kindOf(ctx.uri["kind"])
  const vmid = uriVmid(ctx)
  const node = uriNode(ctx)
  const find = (): GuestState | undefined => findGuest(ctx.cluster, node, kind, vmid)
  const setLock = (g: GuestState, lock: string | undefined): void => {
    if (lock === undefined) g.config.delete("lock")
    else g.config.set("lock", lock)
    touched(g)
  }
  return { kind, vmid, node, find, setLock }
}

export const createSnapshot = (ctx: Ctx): Reply => {
  const { kind, vmid, node, find, setLock } = common(ctx)
  const p = need(ctx, vmPath(vmid), "VM.Snapshot")
  if (Either.isLeft(p)) return p.left
  const v = check(ctx, { node: nodeSpec, vmid: vmidSpec, snapname: snapnameSpec, description: strSpec(8192), ...(kind === "qemu" ? { vmstate: boolSpec } : {}) }, ["snapname"])
  if (Either.isLeft(v)) return v.left
  const snapname = v.right["snapname"] ?? ""
  if (reserved(kind, snapname)) return die(`unable to use snapshot name '${snapname}' (reserved name)`)
  // qemu loads the config before forking (sync 500); lxc fails inside the task (§1.4).
  if (kind === "qemu") {
    const g = loadGuest(ctx, kind, node, vmid)
    if (Either.isLeft(g)) return g.left
  }
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
      if (kind === "qemu") section.set("vmstate", v.right["vmstate"] === "1" && g.running ? "1" : "0")
      const d = storeDescription(v.right["description"] ?? "")
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
      ctx.cluster.record(g, "snapshot-create", { snapname, ...v.right }, ctx.token.tokenid, task.upid)
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
}

export const rollbackSnapshot = (ctx: Ctx): Reply => {
  const { kind, vmid, node, find, setLock } = common(ctx)
  const p = needAny(ctx, vmPath(vmid), ["VM.Snapshot", "VM.Snapshot.Rollback"])
  if (Either.isLeft(p)) return p.left
  const v = check(ctx, { node: nodeSpec, vmid: vmidSpec, snapname: snapnameSpec, start: boolSpec })
  if (Either.isLeft(v)) return v.left
  if (kind === "qemu" && v.right["start"] === "1") {
    const pm = need(ctx, vmPath(vmid), "VM.PowerMgmt")
    if (Either.isLeft(pm)) return pm.left
  }
  const snapname = v.right["snapname"] ?? ""
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
      if (snap.get("vmstate") === "1" || v.right["start"] === "1") startGuest(ctx, g)
      ctx.cluster.record(g, "snapshot-rollback", { snapname, ...v.right }, ctx.token.tokenid, task.upid)
      return {}
    },
    abort: () => {
      const g = find()
      if (g !== undefined) setLock(g, undefined)
    }
  })
  return ok(task.upid)
}

export const deleteSnapshot = (ctx: Ctx): Reply => {
  const { kind, vmid, node, find, setLock } = common(ctx)
  const p = need(ctx, vmPath(vmid), "VM.Snapshot")
  if (Either.isLeft(p)) return p.left
  const v = check(ctx, { node: nodeSpec, vmid: vmidSpec, snapname: snapnameSpec, force: boolSpec })
  if (Either.isLeft(v)) return v.left
  const snapname = v.right["snapname"] ?? ""
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
      ctx.cluster.record(g, "snapshot-delete", { snapname, ...v.right }, ctx.token.tokenid, task.upid)
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
}

export const getSnapshotConfig = (ctx: Ctx): Reply => {
  const { kind, vmid, node } = common(ctx)
  const p = needAny(ctx, vmPath(vmid), ["VM.Snapshot", "VM.Snapshot.Rollback", "VM.Audit"])
  if (Either.isLeft(p)) return p.left
  const v = check(ctx, { node: nodeSpec, vmid: vmidSpec, snapname: snapnameSpec })
  if (Either.isLeft(v)) return v.left
  const g = loadGuest(ctx, kind, node, vmid)
  if (Either.isLeft(g)) return g.left
  const snapname = v.right["snapname"] ?? ""
  const snap = g.right.snapshots.get(snapname)
  return snap === undefined ? die(`snapshot '${snapname}' does not exist`) : ok(typedConfig(g.right, snap))
}
