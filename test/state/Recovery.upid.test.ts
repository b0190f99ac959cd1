/** Recovery of ops whose UPID was journaled (docs/architecture.md, invariant 5; "Crash recovery", UPID known). */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
import { PveNotFound, PveTaskFailed, PveTimeout } from "../../src/pve/PveError.js"
import { mkUpid, runScenario, status, transport } from "./recoveryHarness.js"

describe("recover: UPID known", () => {
  it.live("running → waits for the task → OK → done", () =>
    Effect.gen(function*() {
      const upid = mkUpid("qmstart")
      const r = yield* runScenario({
        upid,
        pve: {
          taskStatus: () => Effect.succeed(status(upid, "running")),
          waitTask: () => Effect.succeed(status(upid, "stopped", "OK"))
        }
      })
      expect(r.op.phase).toBe("done")
      expect(r.op.detail?.exitstatus).toBe("OK")
      expect(r.calls).toEqual(["taskStatus", "waitTask"])
      expect(r.phases).toEqual(["intent", "in-flight", "done"])
      expect(r.summary.counts).toEqual({ "done": 1, "failed": 0, "needs-operator": 0, "unresolved": 0 })
    }))

  it.live("running → wait ends with an error exit → failed", () =>
    Effect.gen(function*() {
      const upid = mkUpid("qmstart")
      const r = yield* runScenario({
        upid,
        pve: {
          taskStatus: () => Effect.succeed(status(upid, "running")),
          waitTask: () => Effect.fail(new PveTaskFailed({ upid, exitstatus: "start failed: QEMU exited with code 1" }))
        }
      })
      expect(r.op.phase).toBe("failed")
      expect(r.op.detail?.exitstatus).toBe("start failed: QEMU exited with code 1")
    }))

  it.live("running past the wait deadline → left unfinished and reported", () =>
    Effect.gen(function*() {
      const upid = mkUpid("qmstart")
      const r = yield* runScenario({
        upid,
        pve: {
          taskStatus: () => Effect.succeed(status(upid, "running")),
          waitTask: () => Effect.fail(new PveTimeout({ operation: "wait", afterMillis: 1000 }))
        }
      })
      expect(r.op.phase).toBe("in-flight")
      expect(r.summary.counts.unresolved).toBe(1)
      expect(r.calls).toEqual(["taskStatus", "waitTask"])
    }))

  it.live("stopped with OK → done", () =>
    Effect.gen(function*() {
      const upid = mkUpid("qmstart")
      const r = yield* runScenario({ upid, pve: { taskStatus: () => Effect.succeed(status(upid, "stopped", "OK")) } })
      expect(r.op.phase).toBe("done")
      expect(r.calls).toEqual(["taskStatus"])
    }))

  it.live("stopped with WARNINGS: 2 → done", () =>
    Effect.gen(function*() {
      const upid = mkUpid("qmstart")
      const r = yield* runScenario({
        upid,
        pve: { taskStatus: () => Effect.succeed(status(upid, "stopped", "WARNINGS: 2")) }
      })
      expect(r.op.phase).toBe("done")
      expect(r.op.detail?.exitstatus).toBe("WARNINGS: 2")
    }))

  it.live("stopped with an error exit → failed", () =>
    Effect.gen(function*() {
      const upid = mkUpid("qmstart")
      const r = yield* runScenario({
        upid,
        pve: { taskStatus: () => Effect.succeed(status(upid, "stopped", "VM 100 already running")) }
      })
      expect(r.op.phase).toBe("failed")
      expect(r.op.detail?.exitstatus).toBe("VM 100 already running")
      expect(r.checks).toBe(0)
    }))

  it.live("unexpected status → re-observes the guest: post-state seen → done", () =>
    Effect.gen(function*() {
      const upid = mkUpid("qmstart")
      const r = yield* runScenario({
        upid,
        pve: { taskStatus: () => Effect.succeed(status(upid, "stopped", "unexpected status")) },
        postState: Effect.succeed(true)
      })
      expect(r.op.phase).toBe("done")
      expect(r.checks).toBe(1)
    }))

  it.live("unexpected status → re-observes the guest: post-state not seen → failed", () =>
    Effect.gen(function*() {
      const upid = mkUpid("qmstart")
      const r = yield* runScenario({
        upid,
        pve: { taskStatus: () => Effect.succeed(status(upid, "stopped", "unexpected status")) },
        postState: Effect.succeed(false)
      })
      expect(r.op.phase).toBe("failed")
      expect(r.op.detail?.message).toContain("not applied")
    }))

  it.live("a task status read that keeps failing leaves the op in-flight, after bounded retries", () =>
    Effect.gen(function*() {
      const upid = mkUpid("qmstart")
      const r = yield* runScenario({ upid, pve: { taskStatus: () => Effect.fail(transport) } })
      expect(r.op.phase).toBe("in-flight")
      expect(r.phases).toEqual(["intent", "in-flight"])
      expect(r.calls).toEqual(["taskStatus", "taskStatus", "taskStatus"])
      expect(r.summary.counts.unresolved).toBe(1)
      expect(r.summary.outcomes[0]?.detail.errorTag).toBe("PveTransport")
    }))

  it.live("a task PVE no longer knows → re-observes the guest", () =>
    Effect.gen(function*() {
      const upid = mkUpid("qmstart")
      const r = yield* runScenario({
        upid,
        pve: {
          taskStatus: () => Effect.fail(new PveNotFound({ method: "GET", path: "/tasks", detail: "no such task" }))
        },
        postState: Effect.succeed(true)
      })
      expect(r.op.phase).toBe("done")
      expect(r.calls).toEqual(["taskStatus"])
    }))

  it.live("a wait interrupted by a transport error is retried", () =>
    Effect.gen(function*() {
      const upid = mkUpid("qmstart")
      const waits = yield* Ref.make(0)
      const r = yield* runScenario({
        upid,
        pve: {
          taskStatus: () => Effect.succeed(status(upid, "running")),
          waitTask: () =>
            Effect.flatMap(Ref.updateAndGet(waits, (n) => n + 1), (n) =>
              n < 2 ? Effect.fail(transport) : Effect.succeed(status(upid, "stopped", "WARNINGS: 1")))
        }
      })
      expect(r.op.phase).toBe("done")
      expect(r.calls).toEqual(["taskStatus", "waitTask", "waitTask"])
    }))

  it.live("a transient read error is retried and then resolved", () =>
    Effect.gen(function*() {
      const upid = mkUpid("qmstart")
      const attempts = yield* Ref.make(0)
      const r = yield* runScenario({
        upid,
        pve: {
          taskStatus: () =>
            Effect.flatMap(Ref.updateAndGet(attempts, (n) => n + 1), (n) =>
              n < 2 ? Effect.fail(transport) : Effect.succeed(status(upid, "stopped", "OK")))
        }
      })
      expect(r.op.phase).toBe("done")
    }))
})
