import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { startSimulator } from "../../src/sim/Simulator.js"
import { asObject, control, dataObject, request, requestPromise } from "./client.js"

const start = () =>
  startSimulator({ https: false, authFailureDelay: 0, taskDuration: 5, guests: [{ vmid: 100, type: "qemu" }] })

describe("fault injection and the control API", () => {
  it.scoped("errorRate answers 5xx before doing anything", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* control(s, "POST", "/faults", { errorRate: 1, errorStatus: 503 })
      const r = yield* request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", form: { name: "x" } })
      expect(r.status).toBe(503)
      expect(r.headers["connection"]).toBe("close")
      expect(s.cluster.mutations()).toEqual([])
      yield* control(s, "DELETE", "/faults")
      expect((yield* request(s, "/version")).status).toBe(200)
    }))

  it.scoped("dropBefore: socket destroyed, nothing applied; dropAfter: applied and logged, no answer", () =>
    Effect.gen(function*() {
      const s = yield* start()
      s.cluster.setFaults({ dropBeforeRate: 1 })
      const before = yield* Effect.promise(() =>
        requestPromise(s, "/nodes/pve1/qemu/100/config", { method: "PUT", form: { name: "a" } }).then(
          () => "answered",
          () => "dropped"
        )
      )
      expect(before).toBe("dropped")
      expect(s.cluster.mutations()).toEqual([])
      s.cluster.setFaults({ dropAfterRate: 1 })
      const after = yield* Effect.promise(() =>
        requestPromise(s, "/nodes/pve1/qemu/100/config", { method: "PUT", form: { name: "b" } }).then(
          () => "answered",
          () => "dropped"
        )
      )
      expect(after).toBe("dropped")
      const log = (yield* control(s, "GET", "/mutations")).body
      expect(log).toMatchObject([{
        seq: 1,
        vmid: 100,
        node: "pve1",
        kind: "config",
        params: { name: "b" },
        user: "felhom@pve!agent"
      }])
    }))

  it.scoped("control API: raw guest state, lock, add guests, HA resource, guest run state, reset", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const g = yield* control(s, "GET", "/guests/100")
      expect(asObject(g.body).configText).toContain("memory: 2048")
      expect(asObject(g.body).digest).toMatch(/^[0-9a-f]{40}$/)
      yield* control(s, "POST", "/guests/100/lock", { lock: "backup" })
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/100/config")).lock).toBe("backup")
      yield* control(s, "DELETE", "/guests/100/lock")
      const add = yield* control(s, "POST", "/guests", [{ vmid: 200, type: "lxc", status: "running" }])
      expect(add.status).toBe(201)
      expect(dataObject(yield* request(s, "/nodes/pve1/lxc/200/status/current")).status).toBe("running")
      const bad = yield* control(s, "POST", "/guests", [{ vmid: "x" }])
      expect(bad.status).toBe(400)
      const ha = yield* control(s, "POST", "/guests/100/ha", { state: "stopped" })
      expect(ha.status).toBe(200)
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/100/status/current")).ha).toEqual({
        managed: 1,
        state: "stopped"
      })
      yield* control(s, "DELETE", "/guests/100/ha")
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/100/status/current")).ha).toEqual({ managed: 0 })
      // A guest that put itself to sleep (QMP `suspended`) — only a running qemu guest can.
      expect((yield* control(s, "POST", "/guests/100/runstate", { state: "suspended" })).status).toBe(404)
      yield* control(s, "POST", "/guests", [{ vmid: 300, type: "qemu", status: "running" }])
      expect((yield* control(s, "POST", "/guests/300/runstate", { state: "suspended" })).status).toBe(200)
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/300/status/current")).qmpstatus).toBe("suspended")
      yield* control(s, "POST", "/reset")
      expect((yield* request(s, "/nodes/pve1/lxc/200/status/current")).status).toBe(500)
      expect((yield* control(s, "GET", "/mutations")).body).toEqual([])
    }))
})
