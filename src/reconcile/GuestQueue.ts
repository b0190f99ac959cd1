/**
 * GuestQueue: the per-guest serializer every PVE mutation goes through (docs/architecture.md,
 * invariant 1). Same vmid: one job at a time, in submit order. Different vmids: in parallel, at
 * most `concurrency` at once. Idle lanes are reclaimed after `idleTtl`.
 *
 * Cancellation: a submitter interrupted while its job is queued removes the job; it never runs.
 * Interrupted while the job runs, by default (`onInterrupt: "detach"`) the job is NOT interrupted
 * — a PVE mutation in flight must reach a journaled phase — its outcome is dropped and the lane
 * stays busy until it ends. With `onInterrupt: "interrupt"` the job's fiber is interrupted and
 * the submitter waits for it to stop.
 *
 * Shutdown (closing the layer's scope): new submits fail with GuestQueueShutdown; workers are
 * interrupted, which interrupts running jobs (a step that must finish is `Effect.uninterruptible`
 * and the close waits for it; the Journal recovers anything else); every submitter still
 * waiting, queued or running, fails with GuestQueueShutdown.
 *
 * The parts, each in its own file: GuestJob (a job and its ticket), GuestLane (one guest's FIFO
 * and the ready lanes), GuestQueueLanes (every transition of jobs and lanes), GuestQueueWorker
 * (the worker loop), GuestQueueScheduler (what the workers run on), GuestQueueMetrics.
 */
import { Context, Duration, Effect, FiberRef, FiberSet, Layer } from "effect"
import type { Fiber, Scope } from "effect"
import type { Vmid } from "../domain/Vmid.js"
import type { GuestJobKind } from "./GuestJob.js"
import { GuestJob } from "./GuestJob.js"
import type { GuestLane } from "./GuestLane.js"
import type { GuestQueueError } from "./GuestQueueErrors.js"
import { GuestQueueLanes } from "./GuestQueueLanes.js"
import { makeWorkerScheduler } from "./GuestQueueScheduler.js"
import { makeWorker } from "./GuestQueueWorker.js"

export type { GuestJobKind, GuestJobOutcome } from "./GuestJob.js"
export { type GuestQueueError, GuestQueueShutdown, GuestQueueSuperseded } from "./GuestQueueErrors.js"
export { GuestQueueMetrics } from "./GuestQueueMetrics.js"

export interface GuestQueueSubmitOptions {
  /** What an interrupted submitter does to its already running job. Default "detach". */
  readonly onInterrupt?: "detach" | "interrupt"
}

export interface GuestQueueOptions {
  /** Jobs running at once across all guests (pve-ha-manager's `max_workers` default: 4). */
  readonly concurrency?: number
  /** How long an empty lane is kept before its state is dropped. Default 1 minute. */
  readonly idleTtl?: Duration.DurationInput
}

export interface GuestQueueStats {
  readonly lanes: number
  readonly queued: number
  readonly running: number
}

export class GuestQueue extends Context.Tag("felhom/GuestQueue")<GuestQueue, {
  /** Runs `job` in the guest's lane and waits for it; the job's context is taken from the caller. */
  readonly submit: <A, E, R>(
    vmid: Vmid,
    kind: GuestJobKind,
    job: Effect.Effect<A, E, R>,
    options?: GuestQueueSubmitOptions
  ) => Effect.Effect<A, E | GuestQueueError, R>
  /**
   * Appends `job` to the guest's lane now and returns the effect that awaits it, so one fiber can
   * fix the order of many jobs (a plan's actions) before waiting on any. Interrupting an await
   * cancels the job like an interrupted `submit`; a job nobody awaits still runs.
   */
  readonly enqueue: <A, E, R>(
    vmid: Vmid,
    kind: GuestJobKind,
    job: Effect.Effect<A, E, R>,
    options?: GuestQueueSubmitOptions
  ) => Effect.Effect<Effect.Effect<A, E | GuestQueueError>, never, R>
  readonly stats: Effect.Effect<GuestQueueStats>
}>() {
  static readonly layer = (options?: GuestQueueOptions): Layer.Layer<GuestQueue> =>
    Layer.scoped(GuestQueue, make(options))
}

/**
 * Narrows a type-erased job back to the submitter's types: the job only ever settles with the
 * exit of the submitter's own effect (A, E) or with a GuestQueueError.
 */
const ticketOf = <A, E>(job: Effect.Effect<unknown, unknown>): Effect.Effect<A, E | GuestQueueError> =>
  job as Effect.Effect<A, E | GuestQueueError>

const make = (options?: GuestQueueOptions): Effect.Effect<Context.Tag.Service<GuestQueue>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const concurrency = options?.concurrency ?? 4
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      return yield* Effect.dieMessage(`GuestQueue concurrency must be a positive integer, got ${concurrency}`)
    }
    const clock = yield* Effect.clock
    const lanes = new GuestQueueLanes(clock, Duration.toMillis(Duration.decode(options?.idleTtl ?? "1 minute")))
    // What the workers' own steps run with; a job switches its worker to the submitter's context.
    const workerContext = yield* Effect.context<never>()
    const fibers = yield* FiberSet.make<void>()

    // Forked from a worker, which may hold the last job's context: reset it first, so a sleeping
    // reaper does not keep a submitter's context alive for the whole TTL. Rare (once per idle lane).
    const startReaper = (lane: GuestLane): Effect.Effect<void> =>
      Effect.zipRight(
        FiberRef.set(FiberRef.currentContext, workerContext),
        Effect.asVoid(FiberSet.run(fibers, lanes.reap(lane)))
      )

    const scheduler = makeWorkerScheduler()
    for (let i = 0; i < concurrency; i++) {
      yield* FiberSet.run(fibers, Effect.withScheduler(makeWorker(lanes, startReaper), scheduler))
    }

    yield* Effect.addFinalizer(() =>
      Effect.zipRight(
        Effect.zipRight(Effect.sync(() => lanes.close()), FiberSet.clear(fibers)),
        Effect.sync(() => lanes.rejectAll())
      )
    )

    // The job's requirements R are met by the submitter's context, captured here.
    const makeJob = <A, E, R>(
      fiber: Fiber.RuntimeFiber<unknown, unknown>,
      vmid: Vmid,
      kind: GuestJobKind,
      effect: Effect.Effect<A, E, R>,
      submitOptions: GuestQueueSubmitOptions | undefined
    ): GuestJob =>
      new GuestJob(
        vmid,
        kind,
        effect as Effect.Effect<A, E>,
        fiber.currentContext,
        clock.unsafeCurrentTimeMillis(),
        submitOptions?.onInterrupt ?? "detach",
        lanes.hooks
      )

    return {
      submit: (vmid, kind, effect, submitOptions) =>
        Effect.withFiberRuntime((fiber) =>
          ticketOf(makeJob(fiber, vmid, kind, effect, submitOptions).admitAndAwait((job) => lanes.admit(job)))
        ),
      enqueue: (vmid, kind, effect, submitOptions) =>
        Effect.withFiberRuntime((fiber) => {
          const job = makeJob(fiber, vmid, kind, effect, submitOptions)
          lanes.admit(job)
          return Effect.succeed(ticketOf(job))
        }),
      stats: Effect.sync(() => ({ lanes: lanes.lanesCount, queued: lanes.queued, running: lanes.running }))
    }
  })
