import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { makeWorkerScheduler } from "../../src/reconcile/GuestQueueScheduler.js"

describe("GuestQueue worker scheduler", () => {
  it("a task scheduled outside any fiber runs at once; tasks it schedules wait for a microtask, in order", async () => {
    const scheduler = makeWorkerScheduler()
    const log: Array<string> = []
    scheduler.scheduleTask(() => {
      log.push("outer")
      scheduler.scheduleTask(() => log.push("nested 1"), 0)
      scheduler.scheduleTask(() => log.push("nested 2"), 0)
      log.push("outer done")
    }, 0)
    expect(log).toEqual(["outer", "outer done"])
    await Promise.resolve()
    expect(log).toEqual(["outer", "outer done", "nested 1", "nested 2"])
  })

  it.live("a fiber on it resumed from inside another fiber runs after the resumer's step, not within it", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const worker = yield* Effect.fork(
        Effect.withScheduler(
          Effect.zipRight(Deferred.await(gate), Effect.sync(() => log.push("worker"))),
          makeWorkerScheduler()
        )
      )
      yield* Effect.yieldNow()
      yield* Effect.sync(() => {
        Deferred.unsafeDone(gate, Exit.void)
        log.push("resumer")
      })
      yield* Fiber.join(worker)
      expect(log).toEqual(["resumer", "worker"])
    }))

  // The test would hang if the runner never gave the event loop a turn.
  it.live("a fiber that yields forever on it does not starve a timer", () =>
    Effect.gen(function*() {
      let spins = 0
      const spinner = yield* Effect.fork(
        Effect.withScheduler(
          Effect.forever(Effect.zipRight(Effect.yieldNow(), Effect.sync(() => spins++))),
          makeWorkerScheduler()
        )
      )
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(spinner)
      expect(spins).toBeGreaterThan(0)
    }))
})
