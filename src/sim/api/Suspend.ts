/**
 * qemu's run states beside running and stopped (qemu-server `PVE::API2::Qemu` `vm_suspend`,
 * `vm_resume`): paused (suspend to RAM),
 * hibernated (suspend to disk, lock `suspended`) and the resume of both. Workers as in
 * PowerTasks.ts: checks when they start, the change when they end.
 */
import { touched } from "../GuestState.js"
import type { TaskRecord } from "../Tasks.js"
import { isTemplate, notExistText } from "./Context.js"
import { findCall, lockUnless, type PowerCall, qemuStart, record, spawn, stopGuest, truthy } from "./PowerTasks.js"

/**
 * qemu suspend (qemu-server `PVE::QemuServer::RunState::vm_suspend`). To RAM (`qmpause`): the
 * lock unless skiplock or a backup runs, then QMP `stop` → `paused`. To disk (`qmsuspend`):
 * the lock (a backup refuses it), lock `suspending` and the vmstate keys while the state is
 * saved, then the VM quits and keeps lock `suspended` until it is started (resumed) again.
 * The disk variant takes the flock only around its two config steps, as PVE does.
 */
export const qemuSuspend = (c: PowerCall): TaskRecord => {
  const toDisk = truthy(c.params["todisk"])
  const skiplock = truthy(c.params["skiplock"])
  if (!toDisk) {
    const task = spawn(c, "qmpause", {
      begin: () => {
        const g = findCall(c)
        if (g === undefined) return notExistText(c.kind, c.node, c.vmid)
        return lockUnless(g, skiplock || g.config.get("lock") === "backup")
      },
      finish: () => {
        const g = findCall(c)
        if (g === undefined) return { error: notExistText(c.kind, c.node, c.vmid) }
        if (g.running && g.runState === "running") {
          g.runState = "paused"
          record(c, g, "suspend", task)
        }
        return {}
      }
    })
    return task
  }
  const task = c.cluster.tasks.spawn(c.node, "qmsuspend", String(c.vmid), c.user, {
    flock: { vmid: c.vmid, kind: c.kind, hold: "steps" },
    begin: () => {
      const g = findCall(c)
      if (g === undefined) return notExistText(c.kind, c.node, c.vmid)
      const backup = g.config.get("lock") === "backup"
      const locked = lockUnless(g, skiplock || backup)
      if (locked !== undefined) return locked
      if (backup) return "cannot suspend to disk during backup"
      const date = new Date().toISOString().slice(0, 10)
      g.config.set("lock", "suspending")
      g.config.set("vmstate", `local-lvm:vm-${c.vmid}-state-suspend-${date}`)
      g.config.set("runningmachine", "pc-i440fx-9.2+pve1")
      g.config.set("runningcpu", "kvm64,enforce,+kvm_pv_eoi,+kvm_pv_unhalt,+lahf_lm,+sep")
      touched(g)
      return undefined
    },
    finish: () => {
      const g = findCall(c)
      if (g === undefined) return { error: notExistText(c.kind, c.node, c.vmid) }
      if (g.config.get("lock") !== "suspending") return { error: "lock changed unexpectedly" }
      stopGuest(g)
      g.config.set("lock", "suspended")
      touched(g)
      record(c, g, "suspend", task)
      return {}
    }
  })
  return task
}

/**
 * qemu resume (qemu-server `PVE::API2::Qemu` vm_resume): a hibernated VM (lock `suspended`) is
 * started, anything else gets `PVE::QemuServer::RunState::vm_resume`: template refused, a
 * running VM is left alone, then the lock unless skiplock or a backup runs, then `cont`.
 */
export const qemuResume = (c: PowerCall, hibernated: boolean): TaskRecord => {
  if (hibernated) return qemuStart({ ...c, params: { skiplock: c.params["skiplock"] ?? "" } }, "qmresume")
  let idle = false
  const task = spawn(c, "qmresume", {
    begin: () => {
      const g = findCall(c)
      if (g === undefined) return notExistText(c.kind, c.node, c.vmid)
      if (isTemplate(g)) return `VM ${c.vmid} is a template and cannot be resumed!`
      if (!g.running || g.runState === "running") {
        idle = true
        return undefined
      }
      return lockUnless(g, truthy(c.params["skiplock"]) || g.config.get("lock") === "backup")
    },
    finish: () => {
      const g = findCall(c)
      if (idle) return {}
      if (g === undefined) return { error: notExistText(c.kind, c.node, c.vmid) }
      g.runState = "running"
      record(c, g, "resume", task)
      return {}
    }
  })
  return task
}
