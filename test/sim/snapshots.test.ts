import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { startSimulator } from "../../src/sim/Simulator.js"
import { dataObject, dataRows, dataString, request, row, rowWhere, waitTask } from "./client.js"

const start = () =>
  startSimulator({
    https: false,
    authFailureDelay: 0,
    taskDuration: 5,
    guests: [
      {
        vmid: 100,
        type: "qemu",
        status: "running",
        config: { memory: 2048, cores: 1 },
        snapshots: [{ name: "base", description: "first" }]
      },
      { vmid: 101, type: "lxc" },
      { vmid: 102, type: "qemu", template: true }
    ]
  })
const post = (s: Parameters<typeof request>[0], path: string, form?: Record<string, string>) =>
  request(s, path, { method: "POST", ...(form ? { form } : {}) })

// qemu-server `PVE::API2::Qemu` snapshot methods, pve-container `PVE::API2::LXC::Snapshot`,
// pve-guest-common `PVE::AbstractConfig` `snapshot_create` / `snapshot_delete`.
describe("snapshots", () => {
  it.scoped("list has every snapshot plus a synthetic current entry last", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const l = dataRows(yield* request(s, "/nodes/pve1/qemu/100/snapshot"))
      expect(l.length).toBe(2)
      expect(l[0]).toMatchObject({ name: "base", description: "first", vmstate: 0 })
      expect(l[1]).toMatchObject({ name: "current", description: "You are here!", running: 1, parent: "base" })
    }))

  it.scoped("create holds lock `snapshot` while running, then sets parent; duplicate fails in the task", () =>
    Effect.gen(function*() {
      const s = yield* start()
      s.cluster.setFaults({ stuckTasks: [{ type: "qmsnapshot" }] })
      const upid = dataString(yield* post(s, "/nodes/pve1/qemu/100/snapshot", { snapname: "s1" }))
      expect(upid).toContain(":qmsnapshot:100:")
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/100/config")).lock).toBe("snapshot")
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/100/status/current")).lock).toBe("snapshot")
      expect(row(dataRows(yield* request(s, "/cluster/resources", { query: { type: "vm" } })), 0).lock).toBe("snapshot")
      const locked = yield* request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", form: { name: "x" } })
      expect(locked.statusMessage).toBe("VM is locked (snapshot)")
      s.cluster.clearFaults()
      expect((yield* waitTask(s, upid)).exitstatus).toBe("OK")
      const c = dataObject(yield* request(s, "/nodes/pve1/qemu/100/config"))
      expect([c.lock, c.parent]).toEqual([undefined, "s1"])
      expect(
        (yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/100/snapshot", { snapname: "s1" })))).exitstatus
      ).toBe(
        "snapshot name 's1' already used"
      )
      expect(s.cluster.mutations().map((m) => m.kind)).toEqual(["snapshot-create"])
    }))

  it.scoped("rollback force-stops and restores config; delete re-parents; missing snapshot fails in task", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", form: { memory: "4096" } })
      yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/100/snapshot", { snapname: "s2" })))
      const rb = dataString(yield* post(s, "/nodes/pve1/qemu/100/snapshot/base/rollback"))
      expect(rb).toContain(":qmrollback:100:")
      expect((yield* waitTask(s, rb)).exitstatus).toBe("OK")
      const st = dataObject(yield* request(s, "/nodes/pve1/qemu/100/status/current"))
      expect(st.status).toBe("stopped")
      const c = dataObject(yield* request(s, "/nodes/pve1/qemu/100/config"))
      expect([c.memory, c.parent]).toEqual(["2048", "base"])
      const del = dataString(yield* request(s, "/nodes/pve1/qemu/100/snapshot/base", { method: "DELETE" }))
      expect(del).toContain(":qmdelsnapshot:100:")
      expect((yield* waitTask(s, del)).exitstatus).toBe("OK")
      const l = dataRows(yield* request(s, "/nodes/pve1/qemu/100/snapshot"))
      expect(l.map((x) => x.name).sort()).toEqual(["current", "s2"])
      expect(rowWhere(l, "name", "s2").parent).toBeUndefined()
      expect((yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/100/snapshot/nope/rollback")))).exitstatus)
        .toBe(
          "snapshot 'nope' does not exist"
        )
      const cfg = yield* request(s, "/nodes/pve1/qemu/100/snapshot/nope/config")
      expect(cfg.statusMessage).toBe("snapshot 'nope' does not exist")
    }))

  it.scoped("template and nonexistent guests: task errors vs sync 500 per type", () =>
    Effect.gen(function*() {
      const s = yield* start()
      expect(
        (yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/102/snapshot", { snapname: "t1" })))).exitstatus
      ).toBe(
        "you can't take a snapshot if it's a template"
      )
      const q = yield* post(s, "/nodes/pve1/qemu/555/snapshot", { snapname: "t1" })
      expect(q.statusMessage).toBe("Configuration file 'nodes/pve1/qemu-server/555.conf' does not exist")
      expect(
        (yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/lxc/555/snapshot", { snapname: "t1" })))).exitstatus
      ).toBe(
        "Configuration file 'nodes/pve1/lxc/555.conf' does not exist"
      )
      const lx = dataString(yield* post(s, "/nodes/pve1/lxc/101/snapshot", { snapname: "c1" }))
      expect(lx).toContain(":vzsnapshot:101:")
      expect((yield* waitTask(s, lx)).exitstatus).toBe("OK")
    }))
})
