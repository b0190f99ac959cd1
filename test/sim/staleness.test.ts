import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type RunningSim, startSimulator } from "../../src/sim/Simulator.js"
import { dataObject, dataRows, dataString, type JsonObject, request, rowWhere, waitTask } from "./client.js"

// Real timers, not Effect.sleep: it.scoped runs under the TestClock.
const pause = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

const resource = (s: RunningSim, vmid: number) =>
  Effect.map(request(s, "/cluster/resources", { query: { type: "vm" } }), (r) => rowWhere(dataRows(r), "vmid", vmid))

/** Polls /cluster/resources until the row satisfies `ok`, failing after `deadlineMs`. */
const waitResource = (s: RunningSim, vmid: number, ok: (row: JsonObject) => boolean, deadlineMs: number) =>
  Effect.gen(function*() {
    const until = Date.now() + deadlineMs
    for (;;) {
      const r = yield* resource(s, vmid)
      if (ok(r)) return r
      if (Date.now() > until) throw new Error(`row ${vmid} still ${JSON.stringify(r)} after ${deadlineMs} ms`)
      yield* pause(10)
    }
  })

/** Waits until a stats push has just happened, so the next steps fit well inside one period. */
const alignToPush = (s: RunningSim, within: number) =>
  Effect.gen(function*() {
    for (;;) {
      const now = Date.now()
      const push = s.cluster.lastStatsPush(now)
      if (push === undefined) throw new Error("statsStaleness is not set")
      // Strictly after it: a change in the very millisecond of a push counts as pushed.
      if (now > push && now - push < within) return push
      yield* pause(2)
    }
  })

/**
 * Runs `body` right after a push and returns its result from the first attempt during which no
 * further push happened (a loaded machine may be slow); `attempt` picks fresh guests.
 */
const betweenPushes = <A>(s: RunningSim, body: (attempt: number) => Effect.Effect<A>) =>
  Effect.gen(function*() {
    for (let attempt = 0; attempt < 3; attempt++) {
      const push = yield* alignToPush(s, 20)
      const result = yield* body(attempt)
      if (s.cluster.lastStatsPush() === push) return { result, push }
    }
    throw new Error("every attempt straddled a stats push")
  })

// pve-manager `PVE::Service::pvestatd::update_qemu_status`, `PVE::API2Tools::extract_vm_stats`.
describe("/cluster/resources staleness (the pvestatd push)", () => {
  it.scoped("status/name lag until the next push; status/current, node lists and lock/tags are live", () =>
    Effect.gen(function*() {
      const period = 500
      const s = yield* startSimulator({
        https: false,
        authFailureDelay: 0,
        taskDuration: 5,
        statsStaleness: period,
        guests: [100, 101, 102].map((vmid) => ({ vmid, type: "qemu" as const, config: { name: "before" } }))
      })
      expect(yield* resource(s, 100)).toMatchObject({ status: "stopped", name: "before" })
      const { result, push } = yield* betweenPushes(s, (attempt) =>
        Effect.gen(function*() {
          const vmid = 100 + attempt
          const upid = dataString(yield* request(s, `/nodes/pve1/qemu/${vmid}/status/start`, { method: "POST" }))
          const task = yield* waitTask(s, upid)
          yield* request(s, `/nodes/pve1/qemu/${vmid}/config`, { method: "PUT", form: { name: "after", tags: "web" } })
          return {
            vmid,
            task,
            stale: yield* resource(s, vmid),
            current: dataObject(yield* request(s, `/nodes/pve1/qemu/${vmid}/status/current`)),
            listed: rowWhere(dataRows(yield* request(s, "/nodes/pve1/qemu")), "vmid", vmid)
          }
        }))
      expect(result.task.exitstatus).toBe("OK")
      const started = s.cluster.mutations().find((m) => m.kind === "start" && m.vmid === result.vmid)
      expect(started !== undefined && push < started.at).toBe(true)
      expect(result.stale).toMatchObject({ status: "stopped", name: "before", tags: "web", mem: 0 })
      expect(result.current).toMatchObject({ status: "running", name: "after" })
      expect(result.listed).toMatchObject({ status: "running", name: "after" })

      const fresh = yield* waitResource(s, result.vmid, (r) => r.status === "running", period * 4)
      expect(fresh).toMatchObject({ status: "running", name: "after", tags: "web" })
      expect(s.cluster.lastStatsPush()).toBeGreaterThan(started?.at ?? Infinity)
    }))

  it.scoped("a guest added later is `unknown` until the first push; default 0 is always fresh", () =>
    Effect.gen(function*() {
      const s = yield* startSimulator({ https: false, authFailureDelay: 0, statsStaleness: 300 })
      const { result } = yield* betweenPushes(s, (attempt) =>
        Effect.gen(function*() {
          const vmid = 101 + attempt
          s.cluster.addGuests([{ vmid, type: "lxc", status: "running" }])
          return { vmid, row: yield* resource(s, vmid) }
        }))
      expect(result.row.status).toBe("unknown")
      expect(result.row.name).toBeUndefined()
      expect(yield* waitResource(s, result.vmid, (r) => r.status === "running", 1200)).toMatchObject({
        name: `CT${result.vmid}`,
        template: 0
      })

      const live = yield* startSimulator({
        https: false,
        authFailureDelay: 0,
        taskDuration: 5,
        guests: [{ vmid: 100, type: "qemu" }]
      })
      expect(live.cluster.lastStatsPush()).toBeUndefined()
      const upid = dataString(yield* request(live, "/nodes/pve1/qemu/100/status/start", { method: "POST" }))
      yield* waitTask(live, upid)
      expect((yield* resource(live, 100)).status).toBe("running")
    }))
})
