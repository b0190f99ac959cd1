import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { parseUpid } from "../../src/domain/Upid.js"
import { startSimulator } from "../../src/sim/Simulator.js"
import { dataRows, dataString, request, row, rowWhere, waitTask } from "./client.js"

const start = () =>
  startSimulator({
    https: false,
    authFailureDelay: 0,
    taskDuration: 5,
    guests: [
      { vmid: 100, type: "qemu", status: "stopped" },
      { vmid: 101, type: "lxc", status: "running" },
      { vmid: 102, type: "qemu", status: "running" },
      { vmid: 103, type: "qemu", template: true },
      { vmid: 104, type: "lxc", status: "stopped" }
    ]
  })

const post = (s: Parameters<typeof request>[0], path: string, form?: Record<string, string>) =>
  request(s, path, { method: "POST", ...(form ? { form } : {}) })

// pve-common `PVE::UPID`, pve-manager `PVE::API2::Tasks`, and the power handlers of qemu-server
// `PVE::API2::Qemu` / pve-container `PVE::API2::LXC::Status`.
describe("tasks and the sync-vs-task error split", () => {
  it.scoped("UPID format, running→stopped, log with total, status without endtime", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const r = yield* post(s, "/nodes/pve1/qemu/100/status/start")
      const upid = dataString(r)
      expect(upid).toMatch(/^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:qmstart:100:felhom@pve!agent:$/)
      expect(parseUpid(upid)._tag).toBe("Right")
      const st = yield* waitTask(s, upid)
      expect(st.exitstatus).toBe("OK")
      expect(st["user"]).toBe("felhom@pve")
      expect(st["tokenid"]).toBe("agent")
      expect(st["endtime"]).toBeUndefined()
      const log = yield* request(s, `/nodes/pve1/tasks/${encodeURIComponent(upid)}/log`)
      expect(log.body).toEqual({ data: [{ n: 1, t: "TASK OK" }], total: 1 })
      const m = s.cluster.mutations()
      expect(m.map((x) => [x.kind, x.vmid, x.upid, x.user])).toEqual([["start", 100, upid, "felhom@pve!agent"]])
    }))

  it.scoped("qemu start while running: UPID, then task error `VM 102 already running`", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const st = yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/102/status/start")))
      expect(st.exitstatus).toBe("VM 102 already running")
      expect(s.cluster.mutations()).toEqual([])
    }))

  it.scoped("lxc start while running: sync 500 `CT 101 already running`", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const r = yield* post(s, "/nodes/pve1/lxc/101/status/start")
      expect([r.status, r.statusMessage]).toEqual([500, "CT 101 already running"])
    }))

  it.scoped("qemu stop/shutdown of a stopped VM: task OK, no mutation logged", () =>
    Effect.gen(function*() {
      const s = yield* start()
      expect((yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/100/status/stop")))).exitstatus).toBe("OK")
      expect((yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/100/status/shutdown")))).exitstatus).toBe(
        "OK"
      )
      expect(s.cluster.mutations()).toEqual([])
    }))

  it.scoped("lxc stop/shutdown of a stopped CT: sync 500 `CT 104 not running`; reboot of stopped says VM for both", () =>
    Effect.gen(function*() {
      const s = yield* start()
      for (const a of ["stop", "shutdown"]) {
        const r = yield* post(s, `/nodes/pve1/lxc/104/status/${a}`)
        expect([r.status, r.statusMessage]).toEqual([500, "CT 104 not running"])
      }
      expect((yield* post(s, "/nodes/pve1/lxc/104/status/reboot")).statusMessage).toBe("VM 104 not running")
      expect((yield* post(s, "/nodes/pve1/qemu/100/status/reboot")).statusMessage).toBe("VM 100 not running")
    }))

  it.scoped("template start fails in the task; nonexistent vmid: UPID then task error", () =>
    Effect.gen(function*() {
      const s = yield* start()
      expect((yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/103/status/start")))).exitstatus).toBe(
        "you can't start a vm if it's a template"
      )
      expect((yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/555/status/start")))).exitstatus).toBe(
        "Configuration file 'nodes/pve1/qemu-server/555.conf' does not exist"
      )
      expect((yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/lxc/555/status/start")))).exitstatus).toBe(
        "Configuration file 'nodes/pve1/lxc/555.conf' does not exist"
      )
      expect((yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/555/status/stop")))).exitstatus).toBe(
        "unable to find configuration file for VM 555 on node 'pve1'"
      )
    }))

  it.scoped("locked guest: task error `VM is locked (backup)`", () =>
    Effect.gen(function*() {
      const s = yield* start()
      s.cluster.setLock(102, "backup")
      expect((yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/102/status/stop")))).exitstatus).toBe(
        "VM is locked (backup)"
      )
      s.cluster.setLock(101, "backup")
      expect((yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/lxc/101/status/stop")))).exitstatus).toBe(
        "CT is locked (backup)"
      )
    }))

  it.scoped("unknown UPID → 400 no such task; malformed → unable to parse", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const u = yield* request(
        s,
        `/nodes/pve1/tasks/${encodeURIComponent("UPID:pve1:00000001:00000001:00000001:qmstart:100:a@pve:")}/status`
      )
      expect([u.status, (u.body as { errors: unknown }).errors]).toEqual([400, { upid: "no such task" }])
      const m = yield* request(s, "/nodes/pve1/tasks/garbage/status")
      expect((m.body as { errors: unknown }).errors).toEqual({ upid: "unable to parse worker upid" })
    }))

  it.scoped("task list: source=archive by default; RUNNING rows with source=all; filters; total", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/100/status/start")))
      s.cluster.setFaults({ stuckTasks: [{ vmid: 102 }] })
      const stuck = dataString(yield* post(s, "/nodes/pve1/qemu/102/status/stop"))
      const archive = yield* request(s, "/nodes/pve1/tasks")
      expect(dataRows(archive).map((t) => t.upid)).not.toContain(stuck)
      expect((archive.body as { total: number }).total).toBe(1)
      expect(row(dataRows(archive), 0).status).toBe("OK")
      const all = yield* request(s, "/nodes/pve1/tasks", { query: { source: "all" } })
      expect(rowWhere(dataRows(all), "upid", stuck).status).toBe("RUNNING")
      const f = yield* request(s, "/nodes/pve1/tasks", { query: { source: "all", vmid: "100", typefilter: "qmstart" } })
      expect(dataRows(f).length).toBe(1)
      s.cluster.clearFaults()
      expect((yield* waitTask(s, stuck)).exitstatus).toBe("OK")
    }))

  it.scoped("faults: failTasks and warnTasks set the exit status", () =>
    Effect.gen(function*() {
      const s = yield* start()
      s.cluster.setFaults({
        failTasks: [{ type: "qmstart", message: "boom", count: 1 }],
        warnTasks: [{ type: "qmstop", warnings: 2 }]
      })
      expect((yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/100/status/start")))).exitstatus).toBe(
        "boom"
      )
      expect(s.cluster.mutations()).toEqual([])
      expect((yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/100/status/start")))).exitstatus).toBe(
        "OK"
      )
      const stop = dataString(yield* post(s, "/nodes/pve1/qemu/100/status/stop"))
      expect((yield* waitTask(s, stop)).exitstatus).toBe("WARNINGS: 2")
      const log = yield* request(s, `/nodes/pve1/tasks/${encodeURIComponent(stop)}/log`)
      expect(dataRows(log).at(-1)).toEqual({ n: 3, t: "TASK WARNINGS: 2" })
    }))
})
