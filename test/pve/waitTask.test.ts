/**
 * waitTask's timing on the TestClock: polls back off from 50 ms to 1 s, a transient read error
 * is retried on the same delays (from 50 ms again for each poll), and the deadline ends the wait.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Ref, Schema, TestClock } from "effect"
import type { TaskStatus } from "../../src/domain/Task.js"
import { formatUpid, UpidString } from "../../src/domain/Upid.js"
import { type PveError, PvePermissionDenied, PveTransport } from "../../src/pve/PveError.js"
import { waitTask } from "../../src/pve/waitTask.js"

const parts = {
  node: "pve1",
  pid: 0x1a2b,
  pstart: 0x3c4d5e,
  starttime: 0x67a1b2c3,
  type: "qmstart",
  id: "100",
  user: "felhom@pve!agent"
}
const upid = Schema.decodeSync(UpidString)(formatUpid(parts))
const running: TaskStatus = { upid, ...parts, status: "running" }
const stopped: TaskStatus = { upid, ...parts, status: "stopped", exitstatus: "OK" }
const transport = new PveTransport({
  method: "GET",
  path: "/nodes/pve1/tasks",
  requestSent: true,
  reason: "ECONNRESET"
})

/** A task status read that records when it was asked and answers the n-th ask (0-based) with `answer(n)`. */
const scripted = (answer: (n: number) => Effect.Effect<TaskStatus, PveError>) =>
  Effect.map(Ref.make<ReadonlyArray<number>>([]), (asks) => ({
    asks: Ref.get(asks),
    taskStatus: () =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (now) => Effect.flatMap(Ref.getAndUpdate(asks, (a) => [...a, now]), (before) => answer(before.length))
      )
  }))

describe("waitTask", () => {
  it.effect("polls after 50, 100, 200, 400 and 800 ms, then every second, until the task stopped", () =>
    Effect.gen(function*() {
      const { asks, taskStatus } = yield* scripted((n) => Effect.succeed(n < 8 ? running : stopped))
      const fiber = yield* Effect.fork(waitTask(taskStatus, upid, "1 minute"))
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(fiber)).toEqual(stopped)
      expect(yield* asks).toEqual([0, 50, 150, 350, 750, 1_550, 2_550, 3_550, 4_550])
    }))

  it.effect("a transient read error is retried on the same delays; another error ends the wait at once", () =>
    Effect.gen(function*() {
      // Asks 1 and 2 fail: the poll due at 50 ms is retried after 50 and 100 ms.
      const { asks, taskStatus } = yield* scripted((n) =>
        n === 1 || n === 2 ? Effect.fail(transport) : Effect.succeed(n < 4 ? running : stopped)
      )
      const fiber = yield* Effect.fork(waitTask(taskStatus, upid, "1 minute"))
      yield* TestClock.adjust("10 seconds")
      expect((yield* Fiber.join(fiber)).status).toBe("stopped")
      expect(yield* asks).toEqual([0, 50, 100, 200, 300])

      const denied = new PvePermissionDenied({
        method: "GET",
        path: "/nodes/pve1/tasks",
        detail: "Permission check failed"
      })
      const refused = yield* scripted((n) => (n === 1 ? Effect.fail(denied) : Effect.succeed(running)))
      const failed = yield* Effect.fork(Effect.flip(waitTask(refused.taskStatus, upid, "1 minute")))
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(failed)).toMatchObject({ _tag: "PvePermissionDenied" })
      // The clock stands at 10 s by now.
      expect(yield* refused.asks).toEqual([10_000, 10_050])
    }))

  it.effect("a task still running at the deadline is PveTimeout, and polling stops", () =>
    Effect.gen(function*() {
      const { asks, taskStatus } = yield* scripted(() => Effect.succeed(running))
      const fiber = yield* Effect.fork(Effect.flip(waitTask(taskStatus, upid, "3 seconds")))
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(fiber)).toMatchObject({ _tag: "PveTimeout", afterMillis: 3_000 })
      expect(yield* asks).toEqual([0, 50, 150, 350, 750, 1_550, 2_550])
    }))
})
