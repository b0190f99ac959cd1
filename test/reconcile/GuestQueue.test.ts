import { describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Context,
  Deferred,
  Effect,
  Exit,
  Fiber,
  Layer,
  Metric,
  MetricLabel,
  Option,
  Scope,
  TestClock
} from "effect"
import { makeVmid } from "../../src/domain/Vmid.js"
import type { GuestJobKind, GuestJobOutcome } from "../../src/reconcile/GuestQueue.js"
import {
  GuestQueue,
  GuestQueueMetrics,
  GuestQueueShutdown,
  GuestQueueSuperseded
} from "../../src/reconcile/GuestQueue.js"

type Queue = Context.Tag.Service<GuestQueue>

const withQueue = <A, E>(
  options: Parameters<typeof GuestQueue.layer>[0],
  body: (queue: Queue) => Effect.Effect<A, E>
): Effect.Effect<A, E> => Effect.flatMap(GuestQueue, body).pipe(Effect.provide(GuestQueue.layer(options)))

/** Yields until `check` holds; bounded so a broken queue fails the test instead of hanging it. */
const waitUntil = (check: Effect.Effect<boolean>, budget = 10_000): Effect.Effect<void> =>
  Effect.flatMap(check, (ok) =>
    ok
      ? Effect.void
      : budget === 0
      ? Effect.dieMessage("waitUntil: condition never held")
      : Effect.zipRight(Effect.yieldNow(), waitUntil(check, budget - 1)))

const jobsCount = (kind: GuestJobKind, outcome: GuestJobOutcome): Effect.Effect<number> =>
  Metric.value(
    Metric.taggedWithLabels(GuestQueueMetrics.jobs, [
      MetricLabel.make("kind", kind),
      MetricLabel.make("outcome", outcome)
    ])
  ).pipe(Effect.map((state) => state.count))

/** A job that records its start and then waits for `gate`. */
const gated = (log: Array<string>, name: string, gate: Deferred.Deferred<void>) =>
  Effect.zipRight(Effect.sync(() => log.push(name)), Deferred.await(gate))

describe("GuestQueue ordering and the global bound", () => {
  it.effect("different vmids run in parallel (a two-way latch completes only if both run at once)", () =>
    withQueue({ concurrency: 2 }, (queue) =>
      Effect.gen(function*() {
        const a = yield* Deferred.make<void>()
        const b = yield* Deferred.make<void>()
        // Each job opens its own latch and waits for the other's: this finishes only with overlap.
        const left = queue.submit(
          makeVmid(100),
          "ordered",
          Effect.zipRight(Deferred.succeed(a, undefined), Deferred.await(b))
        )
        const right = queue.submit(
          makeVmid(101),
          "ordered",
          Effect.zipRight(Deferred.succeed(b, undefined), Deferred.await(a))
        )
        yield* Effect.all([left, right], { concurrency: "unbounded" })
      })))

  it.effect("the global bound caps running jobs across guests", () =>
    withQueue({ concurrency: 2 }, (queue) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const log: Array<string> = []
        const tickets = yield* Effect.forEach([100, 101, 102, 103], (n) =>
          queue.enqueue(makeVmid(n), "ordered", gated(log, String(n), gate)))
        yield* waitUntil(Effect.map(queue.stats, (s) =>
          s.running === 2))
        yield* Effect.repeatN(Effect.yieldNow(), 100)
        expect(yield* queue.stats).toEqual({ lanes: 4, queued: 2, running: 2 })
        expect(log).toEqual(["100", "101"])
        yield* Deferred.succeed(gate, undefined)
        yield* Effect.all(tickets)
        expect(log).toEqual(["100", "101", "102", "103"])
      })))

  it.effect("a busy guest does not starve another guest under the global bound", () =>
    withQueue({ concurrency: 1 }, (queue) =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const busy = yield* Effect.forEach(Array.from({ length: 50 }, (_, i) => i), (i) =>
          queue.enqueue(makeVmid(100), "ordered", Effect.sync(() => log.push(`100:${i}`))))
        const other = yield* queue.enqueue(
          makeVmid(200),
          "ordered",
          Effect.sync(() =>
            log.push("200")
          )
        )
        yield* Effect.all([...busy, other])
        // Lanes take turns in the ready FIFO: 200 runs right after 100's first job, not its 50th.
        expect(log.indexOf("200")).toBeLessThanOrEqual(1)
        expect(log.filter((e) => e.startsWith("100:"))).toEqual(Array.from({ length: 50 }, (_, i) => `100:${i}`))
      })))

  it.effect("1,000 waiters on one guest complete, in submit order", () =>
    withQueue({ concurrency: 4 }, (queue) =>
      Effect.gen(function*() {
        const order: Array<number> = []
        const tickets = yield* Effect.forEach(Array.from({ length: 1000 }, (_, i) => i), (i) =>
          queue.enqueue(
            makeVmid(100),
            "ordered",
            Effect.zipRight(Effect.yieldNow(), Effect.sync(() => order.push(i)))
          ))
        const results = yield* Effect.all(tickets, { concurrency: "unbounded" })
        expect(results).toHaveLength(1000)
        expect(order).toEqual(Array.from({ length: 1000 }, (_, i) => i))
        expect(yield* queue.stats).toMatchObject({ queued: 0, running: 0 })
      })))

  it.effect("the job runs with the submitter's context", () =>
    withQueue({}, (queue) =>
      Effect.gen(function*() {
        class Token extends Context.Tag("test/Token")<Token, string>() {}
        const seen = yield* queue.submit(makeVmid(100), "ordered", Token).pipe(
          Effect.provideService(Token, "from-caller")
        )
        expect(seen).toBe("from-caller")
      })))
})

describe("GuestQueue worker context and tickets", () => {
  it.effect("one worker serving submitters with different contexts gives each job its own submitter's context", () =>
    withQueue({ concurrency: 1 }, (queue) =>
      Effect.gen(function*() {
        class Token extends Context.Tag("test/Token")<Token, string>() {}
        // The worker switches context only when it changes: interleave a, b, a, b on one worker.
        const tickets = yield* Effect.forEach(["a", "b", "a", "b"], (name, i) =>
          queue.enqueue(makeVmid(100 + i), "ordered", Token).pipe(Effect.provideService(Token, name)))
        expect(yield* Effect.all(tickets)).toEqual(["a", "b", "a", "b"])
        const plain = yield* queue.submit(makeVmid(200), "ordered", Effect.serviceOption(Token))
        expect(plain).toEqual(Option.none())
      })))

  it.effect("an enqueue ticket awaited by two fibers gives both the job's result", () =>
    withQueue({}, (queue) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const ticket = yield* queue.enqueue(makeVmid(100), "ordered", Effect.as(Deferred.await(gate), 7))
        const both = yield* Effect.fork(Effect.all([ticket, ticket], { concurrency: "unbounded" }))
        yield* waitUntil(Effect.map(queue.stats, (s) => s.running === 1))
        yield* Deferred.succeed(gate, undefined)
        expect(yield* Fiber.join(both)).toEqual([7, 7])
        expect(yield* ticket).toBe(7)
      })))

  it.effect("a queued ticket awaited by two fibers, one interrupted: the job is cancelled and the other awaiter is told, not left waiting", () =>
    withQueue({}, (queue) =>
      Effect.gen(function*() {
        const vmid = makeVmid(100)
        const gate = yield* Deferred.make<void>()
        const log: Array<string> = []
        const blocker = yield* queue.enqueue(vmid, "ordered", gated(log, "blocker", gate))
        yield* waitUntil(Effect.map(queue.stats, (s) => s.running === 1))
        const ticket = yield* queue.enqueue(vmid, "ordered", Effect.sync(() => log.push("ticket")))
        const first = yield* Effect.fork(ticket)
        const second = yield* Effect.fork(ticket)
        yield* waitUntil(Effect.map(Effect.all([Fiber.status(first), Fiber.status(second)]), (ss) =>
          ss.every((s) =>
            s._tag === "Suspended"
          )))
        yield* Fiber.interrupt(first)
        const other = yield* Fiber.await(second)
        expect(Exit.isInterrupted(other)).toBe(true)
        yield* Deferred.succeed(gate, undefined)
        yield* blocker
        expect(log).toEqual(["blocker"])
      })))
})

describe("GuestQueue coalescing", () => {
  it.effect("a queued reconcile is replaced by a newer one; the replaced submitter gets GuestQueueSuperseded", () =>
    withQueue({}, (queue) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const log: Array<string> = []
        const blocker = yield* queue.enqueue(makeVmid(100), "ordered", gated(log, "blocker", gate))
        const first = yield* queue.enqueue(makeVmid(100), "reconcile", Effect.sync(() => log.push("r1")))
        const second = yield* queue.enqueue(makeVmid(100), "reconcile", Effect.sync(() => log.push("r2")))
        const firstExit = yield* Effect.exit(first)
        expect(firstExit).toEqual(Exit.fail(new GuestQueueSuperseded({ vmid: makeVmid(100) })))
        yield* Deferred.succeed(gate, undefined)
        yield* blocker
        yield* second
        expect(log).toEqual(["blocker", "r2"])
      })))

  it.effect("a running reconcile is never replaced", () =>
    withQueue({}, (queue) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const log: Array<string> = []
        const first = yield* queue.enqueue(makeVmid(100), "reconcile", gated(log, "r1", gate))
        yield* waitUntil(Effect.map(queue.stats, (s) => s.running === 1))
        const second = yield* queue.enqueue(makeVmid(100), "reconcile", Effect.sync(() => log.push("r2")))
        yield* Deferred.succeed(gate, undefined)
        yield* first
        yield* second
        expect(log).toEqual(["r1", "r2"])
      })))

  it.effect("ordered jobs are never coalesced", () =>
    withQueue({}, (queue) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const log: Array<string> = []
        const tickets = [yield* queue.enqueue(makeVmid(100), "ordered", gated(log, "o0", gate))]
        yield* waitUntil(Effect.map(queue.stats, (s) => s.running === 1))
        for (const name of ["o1", "o2", "o3"]) {
          tickets.push(yield* queue.enqueue(makeVmid(100), "ordered", Effect.sync(() => log.push(name))))
        }
        expect((yield* queue.stats).queued).toBe(3)
        yield* Deferred.succeed(gate, undefined)
        yield* Effect.all(tickets)
        expect(log).toEqual(["o0", "o1", "o2", "o3"])
      })))

  it.effect("mixed kinds keep submit order; the newer reconcile goes behind the ordered op it follows", () =>
    withQueue({}, (queue) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const log: Array<string> = []
        const vmid = makeVmid(100)
        const blocker = yield* queue.enqueue(vmid, "ordered", gated(log, "o0", gate))
        const r1 = yield* queue.enqueue(vmid, "reconcile", Effect.sync(() => log.push("r1")))
        const o1 = yield* queue.enqueue(vmid, "ordered", Effect.sync(() => log.push("o1")))
        const r2 = yield* queue.enqueue(vmid, "reconcile", Effect.sync(() => log.push("r2")))
        const o2 = yield* queue.enqueue(vmid, "ordered", Effect.sync(() => log.push("o2")))
        yield* Deferred.succeed(gate, undefined)
        const r1Exit = yield* Effect.exit(r1)
        yield* Effect.all([blocker, o1, r2, o2])
        expect(Exit.isFailure(r1Exit) && Cause.failureOption(r1Exit.cause)).toEqual(
          Option.some(new GuestQueueSuperseded({ vmid }))
        )
        expect(log).toEqual(["o0", "o1", "r2", "o2"])
      })))
})

describe("GuestQueue lane reclamation", () => {
  it.effect("idle lanes are reclaimed after the idle TTL (TestClock)", () =>
    withQueue({ idleTtl: "30 seconds" }, (queue) =>
      Effect.gen(function*() {
        yield* Effect.forEach(Array.from({ length: 50 }, (_, i) => 100 + i), (n) =>
          queue.submit(makeVmid(n), "ordered", Effect.void), { concurrency: "unbounded" })
        expect(yield* queue.stats).toEqual({ lanes: 50, queued: 0, running: 0 })
        yield* TestClock.adjust("29 seconds")
        expect((yield* queue.stats).lanes).toBe(50)
        yield* TestClock.adjust("1 second")
        expect(yield* queue.stats).toEqual({ lanes: 0, queued: 0, running: 0 })
      })))

  it.effect("a lane reused before its TTL restarts the idle clock", () =>
    withQueue({ idleTtl: "30 seconds" }, (queue) =>
      Effect.gen(function*() {
        yield* queue.submit(makeVmid(100), "ordered", Effect.void)
        yield* TestClock.adjust("20 seconds")
        yield* queue.submit(makeVmid(100), "ordered", Effect.void)
        yield* TestClock.adjust("10 seconds")
        expect((yield* queue.stats).lanes).toBe(1)
        yield* TestClock.adjust("20 seconds")
        expect((yield* queue.stats).lanes).toBe(0)
      })))

  it.effect("a lane busy when its reaper wakes is kept, and its jobs stay serialized", () =>
    withQueue({ idleTtl: "30 seconds" }, (queue) =>
      Effect.gen(function*() {
        const vmid = makeVmid(100)
        yield* queue.submit(vmid, "ordered", Effect.void)
        yield* TestClock.adjust("29 seconds")
        const gate = yield* Deferred.make<void>()
        const log: Array<string> = []
        const a = yield* queue.enqueue(
          vmid,
          "ordered",
          Effect.zipRight(gated(log, "a", gate), Effect.sync(() => log.push("a-end")))
        )
        yield* waitUntil(Effect.map(queue.stats, (s) => s.running === 1))
        yield* TestClock.adjust("1 second")
        const b = yield* queue.enqueue(vmid, "ordered", Effect.sync(() => log.push("b")))
        expect(yield* queue.stats).toEqual({ lanes: 1, queued: 1, running: 1 })
        yield* Deferred.succeed(gate, undefined)
        yield* Effect.all([a, b])
        expect(log).toEqual(["a", "a-end", "b"])
        yield* TestClock.adjust("30 seconds")
        expect((yield* queue.stats).lanes).toBe(0)
      })))

  it.effect("a submit racing reclamation never creates a second lane for the vmid", () =>
    withQueue({ idleTtl: "1 second", concurrency: 4 }, (queue) =>
      Effect.gen(function*() {
        const vmid = makeVmid(100)
        let inside = 0
        let overlaps = 0
        let maxLanes = 0
        const job = (gate: Deferred.Deferred<void>) =>
          Effect.acquireUseRelease(
            Effect.sync(() => {
              inside++
              if (inside > 1) overlaps++
            }),
            () => Deferred.await(gate),
            () => Effect.sync(() => inside--)
          )
        let reclaimedFirst = 0
        for (let round = 0; round < 90; round++) {
          yield* queue.submit(vmid, "ordered", Effect.void)
          yield* TestClock.adjust(999)
          const gate = yield* Deferred.make<void>()
          const submits = Effect.all(Array.from({ length: 3 }, () => queue.enqueue(vmid, "ordered", job(gate))))
          // Three interleavings of the reaper's wake-up (at +1 ms) with three submits.
          const mode = round % 3
          const tickets = mode === 0
            ? yield* Effect.zipRight(
              TestClock.adjust(1),
              Effect.flatMap(queue.stats, (s) => {
                if (s.lanes === 0) reclaimedFirst++
                return submits
              })
            )
            : mode === 1
            ? yield* Effect.zipLeft(submits, TestClock.adjust(1))
            : (yield* Effect.all([
              Effect.zipRight(Effect.repeatN(Effect.yieldNow(), round % 4), TestClock.adjust(1)),
              Effect.zipRight(Effect.repeatN(Effect.yieldNow(), round % 5), submits)
            ], { concurrency: "unbounded" }))[1]
          maxLanes = Math.max(maxLanes, (yield* queue.stats).lanes)
          yield* Deferred.succeed(gate, undefined)
          yield* Effect.all(tickets)
        }
        expect(reclaimedFirst).toBe(30)
        expect(overlaps).toBe(0)
        expect(maxLanes).toBe(1)
      })))
})

describe("GuestQueue cancellation and failures", () => {
  it.effect("a submitter interrupted while its job is queued: the job is removed and never runs", () =>
    withQueue({}, (queue) =>
      Effect.gen(function*() {
        const vmid = makeVmid(100)
        const gate = yield* Deferred.make<void>()
        const log: Array<string> = []
        const cancelledBefore = yield* jobsCount("ordered", "cancelled")
        const blocker = yield* queue.enqueue(vmid, "ordered", gated(log, "blocker", gate))
        yield* waitUntil(Effect.map(queue.stats, (s) => s.running === 1))
        const victim = yield* Effect.fork(queue.submit(vmid, "ordered", Effect.sync(() => log.push("victim"))))
        yield* waitUntil(Effect.map(queue.stats, (s) => s.queued === 1))
        // The same through an `enqueue` ticket: interrupting its awaiting fiber cancels the job.
        const ticket = yield* queue.enqueue(vmid, "ordered", Effect.sync(() => log.push("ticket")))
        const ticketWaiter = yield* Effect.fork(ticket)
        yield* waitUntil(Effect.map(Fiber.status(ticketWaiter), (status) => status._tag === "Suspended"))
        yield* Fiber.interrupt(victim)
        yield* Fiber.interrupt(ticketWaiter)
        expect(yield* queue.stats).toMatchObject({ queued: 0, running: 1 })
        const after = yield* queue.enqueue(vmid, "ordered", Effect.sync(() => log.push("after")))
        yield* Deferred.succeed(gate, undefined)
        yield* Effect.all([blocker, after])
        expect(log).toEqual(["blocker", "after"])
        expect((yield* jobsCount("ordered", "cancelled")) - cancelledBefore).toBe(2)
      })))

  it.effect("a submitter interrupted while its job runs: by default the job finishes and the lane waits for it", () =>
    withQueue({}, (queue) =>
      Effect.gen(function*() {
        const vmid = makeVmid(100)
        const gate = yield* Deferred.make<void>()
        const log: Array<string> = []
        const running = yield* Effect.fork(queue.submit(
          vmid,
          "ordered",
          Effect.zipRight(gated(log, "mutation", gate), Effect.sync(() => log.push("mutation-done"))).pipe(
            Effect.onInterrupt(() => Effect.sync(() => log.push("mutation-interrupted")))
          )
        ))
        yield* waitUntil(Effect.map(queue.stats, (s) => s.running === 1))
        const next = yield* queue.enqueue(vmid, "ordered", Effect.sync(() => log.push("next")))
        // Returns at once: the submitter is released, its outcome dropped.
        yield* Fiber.interrupt(running)
        expect(yield* queue.stats).toMatchObject({ running: 1, queued: 1 })
        expect(log).toEqual(["mutation"])
        yield* Deferred.succeed(gate, undefined)
        yield* next
        expect(log).toEqual(["mutation", "mutation-done", "next"])
      })))

  it.effect("onInterrupt: \"interrupt\" stops the running job, then the lane moves on", () =>
    withQueue({}, (queue) =>
      Effect.gen(function*() {
        const vmid = makeVmid(100)
        const never = yield* Deferred.make<void>()
        const log: Array<string> = []
        const running = yield* Effect.fork(queue.submit(
          vmid,
          "reconcile",
          gated(log, "job", never).pipe(Effect.onInterrupt(() => Effect.sync(() => log.push("job-interrupted")))),
          { onInterrupt: "interrupt" }
        ))
        yield* waitUntil(Effect.map(queue.stats, (s) => s.running === 1))
        const next = yield* queue.enqueue(vmid, "ordered", Effect.sync(() => log.push("next")))
        yield* Fiber.interrupt(running)
        // The interrupted submitter returned only after the job had stopped.
        expect(log.slice(0, 2)).toEqual(["job", "job-interrupted"])
        yield* next
        expect(log).toEqual(["job", "job-interrupted", "next"])
      })))

  it.effect("a failing, dying or self-interrupting job does not kill the lane (one worker)", () =>
    withQueue({ concurrency: 1 }, (queue) =>
      Effect.gen(function*() {
        const vmid = makeVmid(100)
        class Boom extends Error {}
        const failed = yield* queue.enqueue(vmid, "ordered", Effect.fail("nope" as const))
        const died = yield* queue.enqueue(vmid, "ordered", Effect.die(new Boom("defect")))
        const interrupted = yield* queue.enqueue(vmid, "ordered", Effect.interrupt)
        const failedReconcile = yield* queue.enqueue(vmid, "reconcile", Effect.fail("drift" as const))
        const ok = yield* queue.enqueue(vmid, "ordered", Effect.succeed(42))
        const other = yield* queue.enqueue(makeVmid(101), "ordered", Effect.succeed("other"))
        expect(yield* Effect.exit(failed)).toEqual(Exit.fail("nope"))
        const diedExit = yield* Effect.exit(died)
        expect(Exit.isFailure(diedExit) && Cause.isDie(diedExit.cause)).toBe(true)
        const interruptedExit = yield* Effect.exit(interrupted)
        expect(Exit.isFailure(interruptedExit) && Cause.isInterruptedOnly(interruptedExit.cause)).toBe(true)
        expect(yield* Effect.exit(failedReconcile)).toEqual(Exit.fail("drift"))
        expect(yield* ok).toBe(42)
        expect(yield* other).toBe("other")
      })))
})

describe("GuestQueue shutdown and metrics", () => {
  it.effect("closing the layer fails waiting submitters with GuestQueueShutdown and refuses new submits", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const queue = Context.get(yield* Layer.buildWithScope(GuestQueue.layer({ concurrency: 1 }), scope), GuestQueue)
      const vmid = makeVmid(100)
      const never = yield* Deferred.make<void>()
      const running = yield* queue.enqueue(vmid, "ordered", Deferred.await(never))
      const queued = yield* queue.enqueue(vmid, "reconcile", Effect.void)
      yield* waitUntil(Effect.map(queue.stats, (s) => s.running === 1))
      yield* Scope.close(scope, Exit.void)
      const shutdown = Exit.fail(new GuestQueueShutdown({ vmid }))
      expect(yield* Effect.exit(running)).toEqual(shutdown)
      expect(yield* Effect.exit(queued)).toEqual(shutdown)
      expect(yield* Effect.exit(queue.submit(vmid, "ordered", Effect.void))).toEqual(shutdown)
      expect(yield* queue.stats).toEqual({ lanes: 0, queued: 0, running: 0 })
    }))

  it.effect("metrics: jobs by kind and outcome, queue depth back to its start, wait time on the clock", () =>
    withQueue({}, (queue) =>
      Effect.gen(function*() {
        const vmid = makeVmid(100)
        const successBefore = yield* jobsCount("ordered", "success")
        const supersededBefore = yield* jobsCount("reconcile", "superseded")
        const failureBefore = yield* jobsCount("reconcile", "failure")
        const depthBefore = (yield* Metric.value(GuestQueueMetrics.queueDepth)).value
        const waitBefore = yield* Metric.value(GuestQueueMetrics.waitSeconds)
        const gate = yield* Deferred.make<void>()
        const blocker = yield* queue.enqueue(vmid, "ordered", Deferred.await(gate))
        yield* waitUntil(Effect.map(queue.stats, (s) => s.running === 1))
        const replaced = yield* queue.enqueue(vmid, "reconcile", Effect.void)
        const failing = yield* queue.enqueue(vmid, "reconcile", Effect.fail("drift"))
        const ordered = yield* queue.enqueue(vmid, "ordered", Effect.void)
        expect((yield* Metric.value(GuestQueueMetrics.queueDepth)).value - depthBefore).toBe(2)
        yield* TestClock.adjust("2 seconds")
        yield* Deferred.succeed(gate, undefined)
        yield* Effect.all([blocker, ordered, Effect.exit(replaced), Effect.exit(failing)])
        expect((yield* jobsCount("ordered", "success")) - successBefore).toBe(2)
        expect((yield* jobsCount("reconcile", "superseded")) - supersededBefore).toBe(1)
        expect((yield* jobsCount("reconcile", "failure")) - failureBefore).toBe(1)
        expect((yield* Metric.value(GuestQueueMetrics.queueDepth)).value).toBe(depthBefore)
        const waitAfter = yield* Metric.value(GuestQueueMetrics.waitSeconds)
        expect(waitAfter.count - waitBefore.count).toBe(3)
        // The two jobs queued behind the blocker waited the 2 s the TestClock moved.
        expect(waitAfter.sum - waitBefore.sum).toBeGreaterThanOrEqual(4)
      })))
})
