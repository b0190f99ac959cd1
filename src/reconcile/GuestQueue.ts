/**
 * GuestQueue: the per-guest serializer, the single choke point every PVE mutation goes through
 * (design.md invariant 1). Same vmid: one job at a time, in submit order. Different vmids: in
 * parallel, at most `concurrency` at once. Idle lanes are reclaimed after `idleTtl`.
 *
 * Shape: controller-runtime's workqueue rather than "a fiber per lane racing for a Semaphore".
 * - The order is fixed in the submitting fiber: `submit`/`enqueue` append the job to its lane
 *   inside one synchronous section, so the lane's FIFO is the submit order (effect-notes: forked
 *   fibers reach a semaphore in scheduler order, 1,999 of 2,000 out of call order).
 * - A lane with work sits in one global FIFO of ready lanes, at most once; `concurrency` worker
 *   fibers take a lane, run its head job, and put the lane back at the tail if it has more work.
 *   That bounds global concurrency without any Semaphore (3.22's wakes every waiter on release,
 *   O(n²), and lets a releasing fiber overtake queued waiters, which would starve lanes), keeps
 *   per-vmid exclusivity (a running lane is not in the ready FIFO), and is round-robin across
 *   guests, so a guest with 1,000 queued ops cannot starve another guest's single op.
 * - Both kinds share the lane. A `reconcile` job replaces the lane's queued, not yet started
 *   reconcile job (that submitter fails with GuestQueueSuperseded) and goes to the tail: every
 *   job that runs still runs in submit order. A running job is never replaced. `ordered` jobs
 *   (signed hub ops) are never coalesced.
 * - Reclamation: when a lane goes idle a per-lane reaper sleeps on the Effect Clock until
 *   `idleSince + idleTtl` and deletes the lane only if it is still idle. The check-and-delete and
 *   submit's lookup-or-create are each synchronous sections, so a submit either finds the lane
 *   (and makes it busy, so the reaper backs off) or finds none and creates the only one.
 *
 * Cancellation: a submitter interrupted while its job is queued removes the job; it never runs.
 * Interrupted while the job runs, by default (`onInterrupt: "detach"`) the job is NOT interrupted
 * — a PVE mutation in flight must reach a journaled phase — its outcome is dropped and the lane
 * stays busy until it ends, so the next job of that guest still waits for it. With
 * `onInterrupt: "interrupt"` the job's fiber is interrupted and the submitter waits for it to stop.
 *
 * Shutdown (closing the layer's scope): new submits fail with GuestQueueShutdown; workers are
 * interrupted, which interrupts running jobs (a job that must finish a step wraps it in
 * `Effect.uninterruptible`, and the close waits for it; the Journal recovers anything else);
 * every submitter still waiting, queued or running, fails with GuestQueueShutdown.
 */
import { Cause, Context, Data, Deferred, Duration, Effect, Exit, Fiber, FiberId, FiberSet, Layer, Metric, MetricBoundaries, MetricLabel, Queue } from "effect"
import type { Scope } from "effect"
import type { Vmid } from "../domain/Vmid.js"
import type { GuestJob, GuestJobKind, GuestJobOutcome, GuestLane } from "./GuestLane.js"
import { append, makeLane, shift, unlink } from "./GuestLane.js"

export type { GuestJobKind, GuestJobOutcome } from "./GuestLane.js"

/** A newer reconcile job for the same guest replaced this one before it started. */
export class GuestQueueSuperseded extends Data.TaggedError("GuestQueueSuperseded")<{
  readonly vmid: Vmid
}> {}

/** The queue was closed before this job could run or finish. */
export class GuestQueueShutdown extends Data.TaggedError("GuestQueueShutdown")<{
  readonly vmid: Vmid
}> {}

export type GuestQueueError = GuestQueueSuperseded | GuestQueueShutdown

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

export const GuestQueueMetrics = {
  /** Jobs queued and not yet started, over all guests (a delta gauge, so instances add up). */
  queueDepth: Metric.gauge("felhom_guest_queue_depth", {
    description: "GuestQueue jobs queued and not yet started"
  }),
  waitSeconds: Metric.histogram(
    "felhom_guest_queue_wait_seconds",
    MetricBoundaries.exponential({ start: 0.001, factor: 4, count: 10 }),
    "Time from submit to start of a GuestQueue job"
  ),
  jobs: Metric.counter("felhom_guest_queue_jobs_total", {
    description: "GuestQueue jobs by kind and outcome",
    incremental: true
  })
} as const

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

const outcomeOf = (exit: Exit.Exit<unknown, unknown>): GuestJobOutcome =>
  Exit.isSuccess(exit)
    ? "success"
    : Cause.isInterruptedOnly(exit.cause)
    ? "interrupted"
    : Cause.isFailure(exit.cause)
    ? "failure"
    : "defect"

const countJob = (kind: GuestJobKind, outcome: GuestJobOutcome): void =>
  GuestQueueMetrics.jobs.unsafeUpdate(1, [MetricLabel.make("kind", kind), MetricLabel.make("outcome", outcome)])

/**
 * Builds a job whose typed result lives only in closures, so lanes can hold any job. The effects
 * around the job are built when it runs, not when it is queued: Effect values are a few hundred
 * bytes each, and 100k queued jobs made that a 3 KB/job heap cost (measured, bench-queue.ts).
 */
const makeJob = <A, E, R>(
  vmid: Vmid,
  kind: GuestJobKind,
  effect: Effect.Effect<A, E, R>,
  context: Context.Context<R>,
  submittedAt: number,
  options: GuestQueueSubmitOptions | undefined
): { readonly job: GuestJob; readonly deferred: Deferred.Deferred<A, E | GuestQueueError> } => {
  const deferred = Deferred.unsafeMake<A, E | GuestQueueError>(FiberId.none)
  const onInterrupt = options?.onInterrupt ?? "detach"
  const publish = (exit: Exit.Exit<A, E>) => ({ outcome: outcomeOf(exit), publish: () => Deferred.unsafeDone(deferred, exit) })
  const job: GuestJob = {
    vmid,
    kind,
    submittedAt,
    onInterrupt,
    state: "queued",
    prev: undefined,
    next: undefined,
    interruptRequested: false,
    stop: undefined,
    run: () => {
      const provided = Effect.provide(effect, context)
      // "detach" jobs run on the worker fiber itself: no fiber per job (with lazily built
      // effects, 100k ops went from 13.9 s to 5.6 s in bench-queue.ts). A failure, defect or
      // self-interruption ends up in the exit, never in the worker; the context is the caller's.
      if (onInterrupt === "detach") return Effect.map(Effect.exit(provided), publish)
      // "interrupt" jobs get a child fiber, so their submitter can stop them, not the worker.
      return Effect.flatMap(Effect.fork(provided), (fiber) => {
        job.stop = Effect.asVoid(Fiber.interrupt(fiber))
        return job.interruptRequested ? Fiber.interrupt(fiber) : Fiber.await(fiber)
      }).pipe(Effect.map(publish))
    },
    reject: (outcome) =>
      Deferred.unsafeDone(
        deferred,
        Exit.fail(outcome === "superseded" ? new GuestQueueSuperseded({ vmid }) : new GuestQueueShutdown({ vmid }))
      ),
    settled: () => Effect.asVoid(Effect.exit(Deferred.await(deferred)))
  }
  return { job, deferred }
}

const make = (options?: GuestQueueOptions): Effect.Effect<Context.Tag.Service<GuestQueue>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const concurrency = options?.concurrency ?? 4
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      return yield* Effect.dieMessage(`GuestQueue concurrency must be a positive integer, got ${concurrency}`)
    }
    const idleTtlMillis = Duration.toMillis(Duration.decode(options?.idleTtl ?? "1 minute"))
    // TestClock implements unsafeCurrentTimeMillis too, so wait times and TTLs follow it in tests.
    const clock = yield* Effect.clock
    const lanes = new Map<Vmid, GuestLane>()
    const ready = yield* Queue.unbounded<GuestLane>()
    const fibers = yield* FiberSet.make<void>()
    let queued = 0
    let running = 0
    let closed = false

    const addQueued = (delta: number): void => {
      queued += delta
      GuestQueueMetrics.queueDepth.unsafeModify(delta, [])
    }

    /** Synchronous: the whole admission is one atomic step (order, coalescing, lane lookup). */
    const admit = (job: GuestJob): void => {
      if (closed) {
        job.state = "finished"
        countJob(job.kind, "shutdown")
        return job.reject("shutdown")
      }
      let lane = lanes.get(job.vmid)
      if (lane === undefined) {
        lane = makeLane(job.vmid, clock.unsafeCurrentTimeMillis())
        lanes.set(job.vmid, lane)
      }
      const replaced = job.kind === "reconcile" ? lane.pendingReconcile : undefined
      if (replaced !== undefined) {
        unlink(lane, replaced)
        addQueued(-1)
        replaced.state = "finished"
        countJob(replaced.kind, "superseded")
        replaced.reject("superseded")
      }
      append(lane, job)
      addQueued(1)
      if (lane.state === "idle") {
        lane.state = "ready"
        Queue.unsafeOffer(ready, lane)
      }
    }

    /** Runs when a submitter is interrupted; see the header for the policy. */
    const abandon = (job: GuestJob): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (job.state === "queued") {
          // A queued job's lane is never idle, hence never reclaimed: lanes.get finds it.
          const lane = lanes.get(job.vmid)
          if (lane !== undefined) unlink(lane, job)
          addQueued(-1)
          job.state = "finished"
          countJob(job.kind, "cancelled")
          return Effect.void
        }
        if (job.state === "running" && job.onInterrupt === "interrupt") {
          job.interruptRequested = true
          return Effect.zipRight(job.stop ?? Effect.void, job.settled())
        }
        return Effect.void
      })

    /** Synchronous: marks an empty lane idle; true if the caller must start its reaper. */
    const goIdle = (lane: GuestLane): boolean => {
      lane.state = "idle"
      lane.idleSince = clock.unsafeCurrentTimeMillis()
      if (lane.reaperArmed || closed || !Number.isFinite(idleTtlMillis)) return false
      lane.reaperArmed = true
      return true
    }

    // At most one reaper per lane; a lane reused and idle again pushes its deadline back, which
    // the reaper sees when it wakes, so it sleeps the remainder instead of forking anew.
    const reap = (lane: GuestLane, delayMillis: number): Effect.Effect<void> =>
      Effect.zipRight(
        Effect.sleep(Duration.millis(delayMillis)),
        Effect.suspend(() => {
          if (lane.state !== "idle" || lanes.get(lane.vmid) !== lane) {
            lane.reaperArmed = false
            return Effect.void
          }
          const remaining = lane.idleSince + idleTtlMillis - clock.unsafeCurrentTimeMillis()
          if (remaining > 0) return reap(lane, remaining)
          lanes.delete(lane.vmid)
          lane.reaperArmed = false
          return Effect.void
        })
      )

    const startReaper = (lane: GuestLane): Effect.Effect<void> =>
      Effect.asVoid(FiberSet.run(fibers, reap(lane, idleTtlMillis)))

    /** Synchronous: takes the lane's head job, or marks the lane idle when cancels emptied it. */
    const start = (lane: GuestLane): GuestJob | undefined => {
      const job = shift(lane)
      if (job === undefined) return undefined
      addQueued(-1)
      job.state = "running"
      lane.state = "running"
      lane.current = job
      running++
      const waited = clock.unsafeCurrentTimeMillis() - job.submittedAt
      GuestQueueMetrics.waitSeconds.unsafeUpdate(waited / 1000, [])
      return job
    }

    /** Synchronous: releases the lane; true if the caller must start its reaper. */
    const finish = (lane: GuestLane, job: GuestJob, outcome: GuestJobOutcome): boolean => {
      job.state = "finished"
      lane.current = undefined
      running--
      countJob(job.kind, outcome)
      if (lane.size === 0) return goIdle(lane)
      // Back to the tail of the ready FIFO: round-robin between guests, so none starves.
      lane.state = "ready"
      Queue.unsafeOffer(ready, lane)
      return false
    }

    const serve = (lane: GuestLane): Effect.Effect<void> =>
      Effect.suspend(() => {
        const job = start(lane)
        if (job === undefined) return goIdle(lane) ? startReaper(lane) : Effect.void
        return Effect.flatMap(job.run(), (result) => {
          const needsReaper = finish(lane, job, result.outcome)
          // Publish last: when the submitter resumes, stats and the lane already reflect the end.
          return Effect.ensuring(needsReaper ? startReaper(lane) : Effect.void, Effect.sync(result.publish))
        })
      })

    for (let i = 0; i < concurrency; i++) {
      yield* FiberSet.run(fibers, Effect.forever(Effect.flatMap(Queue.take(ready), serve)))
    }

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closed = true
        yield* FiberSet.clear(fibers)
        yield* Queue.shutdown(ready)
        for (const lane of lanes.values()) {
          const active = lane.current
          if (active !== undefined && active.state === "running") {
            active.state = "finished"
            countJob(active.kind, "shutdown")
            active.reject("shutdown")
          }
          for (let job = shift(lane); job !== undefined; job = shift(lane)) {
            addQueued(-1)
            job.state = "finished"
            countJob(job.kind, "shutdown")
            job.reject("shutdown")
          }
        }
        lanes.clear()
        running = 0
      })
    )

    const admitFromCaller = <A, E, R>(
      vmid: Vmid,
      kind: GuestJobKind,
      effect: Effect.Effect<A, E, R>,
      options: GuestQueueSubmitOptions | undefined
    ): Effect.Effect<{ readonly job: GuestJob; readonly deferred: Deferred.Deferred<A, E | GuestQueueError> }, never, R> =>
      Effect.map(Effect.context<R>(), (context) => {
        const made = makeJob(vmid, kind, effect, context, clock.unsafeCurrentTimeMillis(), options)
        admit(made.job)
        return made
      })

    return {
      // Uninterruptible between admission and the interrupt hook, so no job is ever orphaned.
      submit: (vmid, kind, effect, submitOptions) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(
            admitFromCaller(vmid, kind, effect, submitOptions),
            ({ deferred, job }) => Effect.onInterrupt(restore(Deferred.await(deferred)), () => abandon(job))
          )
        ),
      enqueue: (vmid, kind, effect, submitOptions) =>
        Effect.map(
          admitFromCaller(vmid, kind, effect, submitOptions),
          ({ deferred, job }) => Effect.onInterrupt(Deferred.await(deferred), () => abandon(job))
        ),
      stats: Effect.sync(() => ({ lanes: lanes.size, queued, running }))
    }
  })
