import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { startSimulator } from "../../src/sim/Simulator.js"
import { dataObject, dataRows, dataString, request, rowWhere, waitTask } from "./client.js"

const start = () =>
  startSimulator({
    https: false,
    authFailureDelay: 0,
    taskDuration: 5,
    guests: [
      { vmid: 100, type: "qemu", status: "running", config: { memory: 2048, cores: 1 }, snapshots: [{ name: "base" }] },
      { vmid: 101, type: "lxc", status: "running", snapshots: [{ name: "base" }] },
      { vmid: 102, type: "qemu", template: true },
      { vmid: 103, type: "qemu", status: "running", snapshots: [{ name: "ram", vmstate: true }] }
    ]
  })
const post = (s: Parameters<typeof request>[0], path: string, form?: Record<string, string>) =>
  request(s, path, { method: "POST", ...(form ? { form } : {}) })
const current = (s: Parameters<typeof request>[0], kind: string, vmid: number) =>
  Effect.map(request(s, `/nodes/pve1/${kind}/${vmid}/status/current`), dataObject)
const tasksOf = (s: Parameters<typeof request>[0], vmid: number) =>
  Effect.map(request(s, "/nodes/pve1/tasks", { query: { source: "all", vmid: String(vmid) } }), dataRows)

// pve-guest-common `PVE::AbstractConfig::snapshot_rollback`, qemu-server `PVE::QemuConfig`
// `__snapshot_rollback_vm_stop`, pve-container `PVE::API2::LXC::Snapshot::rollback`.
describe("snapshot rollback: order of stop, lock and start", () => {
  // pve-guest-common PVE::AbstractConfig::snapshot_rollback (prepare): check_lock, then
  // __snapshot_rollback_vm_stop (qemu-server PVE::QemuConfig, a vm_stop; pve-container
  // PVE::LXC::Config, a forced PVE::LXC::vm_stop), then "vm is running" check, and only then
  // `lock: rollback` is written.
  for (const [kind, vmid, type] of [["qemu", 100, "qmrollback"], ["lxc", 101, "vzrollback"]] as const) {
    it.scoped(`${kind}: a running guest is stopped before lock rollback is written, never running and locked rollback`, () =>
      Effect.gen(function*() {
        const s = yield* start()
        s.cluster.setFaults({ stuckTasks: [{ type }] })
        const upid = dataString(yield* post(s, `/nodes/pve1/${kind}/${vmid}/snapshot/base/rollback`))
        expect(upid).toContain(`:${type}:${vmid}:`)
        const during = yield* current(s, kind, vmid)
        expect([during.status, during.lock]).toEqual(["stopped", "rollback"])
        const row = rowWhere(dataRows(yield* request(s, "/cluster/resources", { query: { type: "vm" } })), "vmid", vmid)
        expect([row.status, row.lock]).toEqual(["stopped", "rollback"])
        s.cluster.clearFaults()
        expect((yield* waitTask(s, upid)).exitstatus).toBe("OK")
        const after = yield* current(s, kind, vmid)
        expect([after.status, after.lock]).toEqual(["stopped", undefined])
        expect(s.cluster.mutations().map((m) => [m.kind, m.upid])).toEqual([["snapshot-rollback", upid]])
      }))
  }

  // pve-guest-common PVE::AbstractConfig::snapshot_rollback: template and existence
  // ($get_snapshot_config), then snapstate, then check_lock — all before the guest is stopped.
  it.scoped("prepare checks come before the stop: a locked running guest keeps running; template before missing snapshot; snapstate before lock", () =>
    Effect.gen(function*() {
      const s = yield* start()
      s.cluster.setLock(100, "backup")
      const locked = yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/100/snapshot/base/rollback")))
      expect(locked.exitstatus).toBe("VM is locked (backup)")
      const st = yield* current(s, "qemu", 100)
      expect([st.status, st.lock]).toEqual(["running", "backup"])
      const tpl = yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/102/snapshot/nope/rollback")))
      expect(tpl.exitstatus).toBe("you can't rollback if vm is a template")
      // A snapshot still being taken: lock `snapshot` and `snapstate: prepare`; snapstate wins.
      s.cluster.setFaults({ stuckTasks: [{ type: "vzsnapshot" }] })
      const snap = dataString(yield* post(s, "/nodes/pve1/lxc/101/snapshot", { snapname: "half" }))
      const half = yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/lxc/101/snapshot/half/rollback")))
      expect(half.exitstatus).toBe("unable to rollback to incomplete snapshot (snapstate = prepare)")
      expect((yield* current(s, "lxc", 101)).status).toBe("running")
      s.cluster.clearFaults()
      expect((yield* waitTask(s, snap)).exitstatus).toBe("OK")
    }))

  // pve-container PVE::API2::LXC::Snapshot rollback and qemu-server PVE::API2::Qemu rollback:
  // after snapshot_rollback the worker calls the start API (PVE::API2::LXC::Status->vm_start,
  // PVE::API2::Qemu->vm_start), which forks its own vzstart/qmstart task as the same user;
  // the rollback worker returns at once.
  for (const [kind, vmid, prefix] of [["qemu", 100, "qm"], ["lxc", 101, "vz"]] as const) {
    it.scoped(`${kind}: start=1 starts the guest in a separate ${prefix}start task with its own UPID and the caller as user`, () =>
      Effect.gen(function*() {
        const s = yield* start()
        s.cluster.setFaults({ stuckTasks: [{ type: `${prefix}start` }] })
        const rb = dataString(yield* post(s, `/nodes/pve1/${kind}/${vmid}/snapshot/base/rollback`, { start: "1" }))
        expect((yield* waitTask(s, rb)).exitstatus).toBe("OK")
        // The rollback is done while its start task still runs: the guest is not running yet.
        expect((yield* current(s, kind, vmid)).status).toBe("stopped")
        const startRow = rowWhere(yield* tasksOf(s, vmid), "type", `${prefix}start`)
        expect(startRow.status).toBe("RUNNING")
        expect(startRow.user).toBe(s.tokenId)
        const startUpid = String(startRow.upid)
        expect(startUpid).not.toBe(rb)
        s.cluster.clearFaults()
        expect((yield* waitTask(s, startUpid)).exitstatus).toBe("OK")
        expect((yield* current(s, kind, vmid)).status).toBe("running")
        expect(s.cluster.mutations().map((m) => [m.kind, m.upid])).toEqual([["snapshot-rollback", rb], [
          "start",
          startUpid
        ]])
      }))
  }

  // pve-guest-common PVE::AbstractConfig::snapshot_rollback starts a VM whose snapshot has RAM
  // state inside the rollback (__snapshot_rollback_vm_start); qemu-server PVE::API2::Qemu
  // rollback calls vm_start only when the VM is not running afterwards.
  it.scoped("qemu: a snapshot with RAM state runs again inside the rollback task; start=1 then adds no qmstart", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const rb = dataString(yield* post(s, "/nodes/pve1/qemu/103/snapshot/ram/rollback", { start: "1" }))
      expect((yield* waitTask(s, rb)).exitstatus).toBe("OK")
      expect((yield* current(s, "qemu", 103)).status).toBe("running")
      expect((yield* tasksOf(s, 103)).map((t) => t.type)).toEqual(["qmrollback"])
    }))
})
