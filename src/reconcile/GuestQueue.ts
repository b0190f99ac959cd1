/**
 * GuestQueue: the per-guest serializer every PVE mutation goes through (docs/architecture.md,
 * invariant 1). Same vmid: one job at a time, in submit order. Different vmids: in parallel, at
 * most `concurrency` at once. Idle lanes are reclaimed after `idleTtl`.
 *
 * - Order is fixed in the submitting fiber: `submit`/`enqueue` append the job to its lane in one
 *   synchronous section, so the lane's FIFO is the submit order (forked fibers would reach a lock
 *   in scheduler order: 1,999 of 2,000 out of call order, measured).
 * - Lanes with work wait in one FIFO of ready lanes (GuestLane `ReadyLanes`), each at most once;
 *   `concurrency` worker fibers take a lane, run its head job and put the lane back at the tail.
 *   No Semaphore (3.22's wakes every waiter on each release, O(n²), and lets a releasing fiber
 *   overtake queued ones); a running lane is not in the FIFO, so a vmid never runs twice at once;
 *   the FIFO is round-robin, so a guest with 1,000 queued ops cannot starve another's single op.
 * - A `reconcile` job replaces the lane's queued, not yet started reconcile job (that submitter
 *   fails with GuestQueueSuperseded) and goes to the tail; `ordered` jobs (signed hub ops) are
 *   never coalesced. A running job is never replaced.
 * - An idle lane's reaper sleeps on the Effect Clock until `idleSince + idleTtl` and deletes the
 *   lane only if it is still idle; that check-and-delete and submit's lookup-or-create are each
 *   synchronous, so a submit finds the lane (and makes it busy) or creates the only one.
 * - A job runs on its worker fiber with the submitter's context, captured at submit.
 * - Awaiters are resumed once per event-loop turn, not once per job (`wakeAll`).
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
 */
import {
  Context,
  Data,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberId,
  FiberRef,
  FiberSet,
  Layer,
  Metric,
  MetricBoundaries,
  MetricLabel
} from "effect"
import type { Cause, Scope } from "effect"
import type { Vmid } from "../domain/Vmid.js"
import type { GuestJobHooks, GuestJobKind, GuestJobOutcome } from "./GuestJob.js"
import { GuestJob, outcomeOf } from "./GuestJob.js"
import type { GuestLane } from "./GuestLane.js"
import { append, makeLane, ReadyLanes, shift, unlink } from "./GuestLane.js"

export type { GuestJobKind, GuestJobOutcome } from "./GuestJob.js"

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

// Effect caches a metric's hook per label array *identity* (a WeakMap): a fresh array per update
// misses and pays a registry lookup + MetricKey hash, ≈ 27 % of GuestQueue's time in the profile.
// So every label array is built once here. (`Metric.taggedWithLabels` does not help: it unions
// its labels into a new array on every update.)
const noLabels: ReadonlyArray<MetricLabel.MetricLabel> = []
const jobLabels = (kind: GuestJobKind) => {
  const labels = (outcome: GuestJobOutcome) => [MetricLabel.make("kind", kind), MetricLabel.make("outcome", outcome)]
  return {
    success: labels("success"),
    failure: labels("failure"),
    defect: labels("defect"),
    interrupted: labels("interrupted"),
    superseded: labels("superseded"),
    cancelled: labels("cancelled"),
    shutdown: labels("shutdown")
  } satisfies Record<GuestJobOutcome, ReadonlyArray<MetricLabel.MetricLabel>>
}
const jobsLabels = { reconcile: jobLabels("reconcile"), ordered: jobLabels("ordered") } as const

const countJob = (kind: GuestJobKind, outcome: GuestJobOutcome): void =>
  GuestQueueMetrics.jobs.unsafeUpdate(1, jobsLabels[kind][outcome])

/**
 * Narrows a type-erased job back to the submitter's types: the job only ever settles with the
 * exit of the submitter's own effect (A, E) or with a GuestQueueError.
 */
const ticketOf = <A, E>(job: Effect.Effect<unknown, unknown>): Effect.Effect<A, E | GuestQueueError> =>
  job as Effect.Effect<A, E | GuestQueueError>

const rejection = (job: GuestJob, outcome: "superseded" | "shutdown"): Exit.Exit<never, GuestQueueError> =>
  Exit.fail(
    outcome === "superseded" ? new GuestQueueSuperseded({ vmid: job.vmid }) : new GuestQueueShutdown({ vmid: job.vmid })
  )

const make = (options?: GuestQueueOptions): Effect.Effect<Context.Tag.Service<GuestQueue>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const concurrency = options?.concurrency ?? 4
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      return yield* Effect.dieMessage(`GuestQueue concurrency must be a positive integer, got ${concurrency}`)
    }
    const idleTtlMillis = Duration.toMillis(Duration.decode(options?.idleTtl ?? "1 minute"))
    // TestClock implements unsafeCurrentTimeMillis too, so wait times and TTLs follow it in tests.
    const clock = yield* Effect.clock
    // What the workers' own steps run with; a job switches its worker to the submitter's context.
    const workerContext = yield* Effect.context<never>()
    const lanes = new Map<Vmid, GuestLane>()
    const ready = new ReadyLanes()
    /** Workers waiting for a ready lane (resume callbacks); `admit` wakes one per lane made ready. */
    const parked: Array<(wake: Effect.Effect<void>) => void> = []
    const fibers = yield* FiberSet.make<void>()
    let queued = 0
    let running = 0
    let closed = false

    // A fiber awaiting tickets in order would suspend and be resumed (an async registration, a
    // mailbox message, a scheduler task) for every job, because jobs of different guests finish
    // in separate I/O callbacks. Resumed once after the turn instead, it finds the following
    // tickets settled and reads their exits without suspending (100k jobs over 1,000 guests,
    // measured: 100 suspensions instead of 100,000 at concurrency 1,000, 25,000 at 4). The cost
    // is up to one event-loop turn of latency per result.
    let toWake: Array<GuestJob> = []
    const wakeAll = (): void => {
      const jobs = toWake
      toWake = []
      for (const job of jobs) job.wake()
    }
    const hooks: GuestJobHooks = {
      cancel: (job) => abandon(job),
      wake: (job) => {
        if (toWake.push(job) === 1) setImmediate(wakeAll)
      }
    }

    const addQueued = (delta: number): void => {
      queued += delta
      GuestQueueMetrics.queueDepth.unsafeModify(delta, noLabels)
    }

    /** Synchronous: the whole admission is one atomic step (order, coalescing, lane lookup). */
    const admit = (job: GuestJob): void => {
      if (closed) {
        countJob(job.kind, "shutdown")
        return job.settle(rejection(job, "shutdown"))
      }
      job.state = "queued"
      let lane = lanes.get(job.vmid)
      if (lane === undefined) {
        lane = makeLane(job.vmid, clock.unsafeCurrentTimeMillis())
        lanes.set(job.vmid, lane)
      }
      const replaced = job.kind === "reconcile" ? lane.pendingReconcile : undefined
      if (replaced !== undefined) {
        unlink(lane, replaced)
        addQueued(-1)
        countJob(replaced.kind, "superseded")
        replaced.settle(rejection(replaced, "superseded"))
      }
      append(lane, job)
      addQueued(1)
      if (lane.state === "idle") {
        lane.state = "ready"
        ready.push(lane)
        parked.pop()?.(Effect.void)
      }
    }

    /** Runs when a waiting submitter is interrupted; see the header for the policy. */
    const abandon = (job: GuestJob): Effect.Effect<void> => {
      if (job.state === "queued") {
        // A queued job's lane is never idle, hence never reclaimed: lanes.get finds it.
        const lane = lanes.get(job.vmid)
        if (lane !== undefined) unlink(lane, job)
        addQueued(-1)
        countJob(job.kind, "cancelled")
        // Anyone else awaiting the same ticket learns it will never run, instead of waiting forever.
        job.settle(Exit.interrupt(FiberId.none))
        return Effect.void
      }
      if (job.state === "running" && job.onInterrupt === "interrupt") {
        job.interruptRequested = true
        return Effect.zipRight(job.stop ?? Effect.void, job.settled())
      }
      return Effect.void
    }

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

    // Forked from a worker, which may hold the last job's context: reset it first, so a sleeping
    // reaper does not keep a submitter's context alive for the whole TTL. Rare (once per idle lane).
    const startReaper = (lane: GuestLane): Effect.Effect<void> =>
      Effect.zipRight(
        FiberRef.set(FiberRef.currentContext, workerContext),
        Effect.asVoid(FiberSet.run(fibers, reap(lane, idleTtlMillis)))
      )

    /** Synchronous: takes the lane's head job, or returns undefined when cancels emptied it. */
    const start = (lane: GuestLane): GuestJob | undefined => {
      const job = shift(lane)
      if (job === undefined) return undefined
      addQueued(-1)
      job.state = "running"
      lane.state = "running"
      lane.current = job
      running++
      const waited = clock.unsafeCurrentTimeMillis() - job.submittedAt
      GuestQueueMetrics.waitSeconds.unsafeUpdate(waited / 1000, noLabels)
      return job
    }

    /** Synchronous: releases the lane and publishes the exit; true if a reaper must start. */
    const finish = (lane: GuestLane, job: GuestJob, exit: Exit.Exit<unknown, unknown>): boolean => {
      lane.current = undefined
      running--
      countJob(job.kind, outcomeOf(exit))
      let needsReaper = false
      if (lane.size === 0) needsReaper = goIdle(lane)
      else {
        // Back to the tail: round-robin between guests, so none starves. No parked worker is
        // woken: this worker takes the FIFO's head next, in this same step.
        lane.state = "ready"
        ready.push(lane)
      }
      job.settle(exit)
      return needsReaper
    }

    /** "interrupt" jobs get a child fiber, so their submitter can stop them, not the worker. */
    const runInChild = (job: GuestJob): Effect.Effect<unknown, unknown> =>
      Effect.flatMap(Effect.fork(job.effect), (fiber) => {
        job.stop = Effect.asVoid(Fiber.interrupt(fiber))
        return Effect.flatMap(job.interruptRequested ? Fiber.interrupt(fiber) : Fiber.await(fiber), (exit) => exit)
      })

    const park = Effect.async<void>((resume) => {
      parked.push(resume)
    })

    /**
     * One worker: serves the next ready lane's head job, or parks until a lane is ready. Each job
     * runs inside one `matchCauseEffect` frame whose handlers finish it and return the next job's
     * frame directly: no loop frames, no closures and no extra fiber op per job.
     */
    const makeWorker = (): Effect.Effect<never> =>
      Effect.withFiberRuntime((fiber) => {
        let lane: GuestLane | undefined
        const serveNext = (): Effect.Effect<never> => {
          for (;;) {
            const candidate = ready.shift()
            if (candidate === undefined) return afterPark
            const job = start(candidate)
            if (job === undefined) {
              if (goIdle(candidate)) return Effect.zipRight(startReaper(candidate), next)
              continue
            }
            lane = candidate
            // "detach" jobs run on the worker fiber itself: no fiber per job. Instead of
            // `Effect.provide` (an acquireUseRelease per job) the worker switches its context
            // only when the job's differs: not at all for a run of jobs from one submitter.
            const run = Effect.matchCauseEffect(job.onInterrupt === "detach" ? job.effect : runInChild(job), handlers)
            return fiber.currentContext === job.context
              ? run
              : Effect.zipRight(FiberRef.set(FiberRef.currentContext, job.context), run)
          }
        }
        const done = (exit: Exit.Exit<unknown, unknown>): Effect.Effect<never> => {
          const served = lane
          const job = served?.current
          lane = undefined
          if (served === undefined || job === undefined) return Effect.dieMessage("GuestQueue worker lost its job")
          return finish(served, job, exit) ? Effect.zipRight(startReaper(served), next) : serveNext()
        }
        // A job's failure, defect or self-interruption lands in its exit, never in the worker.
        const handlers = {
          onFailure: (cause: Cause.Cause<unknown>) => done(Exit.failCause(cause)),
          onSuccess: (value: unknown) => done(Exit.succeed(value))
        }
        const next = Effect.suspend(serveNext)
        const afterPark = Effect.zipRight(park, next)
        return serveNext()
      })

    for (let i = 0; i < concurrency; i++) yield* FiberSet.run(fibers, makeWorker())

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closed = true
        // Parked workers are interrupted with the rest; their resume callbacks are dead.
        parked.length = 0
        yield* FiberSet.clear(fibers)
        ready.clear()
        for (const lane of lanes.values()) {
          const active = lane.current
          if (active !== undefined && active.state === "running") {
            countJob(active.kind, "shutdown")
            active.settle(rejection(active, "shutdown"))
          }
          for (let job = shift(lane); job !== undefined; job = shift(lane)) {
            addQueued(-1)
            countJob(job.kind, "shutdown")
            job.settle(rejection(job, "shutdown"))
          }
        }
        lanes.clear()
        running = 0
      })
    )

    // The job's requirements R are met by the submitter's context, captured here.
    const makeJob = <A, E, R>(
      fiber: Fiber.RuntimeFiber<unknown, unknown>,
      vmid: Vmid,
      kind: GuestJobKind,
      effect: Effect.Effect<A, E, R>,
      options: GuestQueueSubmitOptions | undefined
    ): GuestJob => {
      const now = clock.unsafeCurrentTimeMillis()
      return new GuestJob(
        vmid,
        kind,
        effect as Effect.Effect<A, E>,
        fiber.currentContext,
        now,
        options?.onInterrupt ?? "detach",
        hooks
      )
    }

    return {
      submit: (vmid, kind, effect, submitOptions) =>
        Effect.withFiberRuntime((fiber) =>
          ticketOf(makeJob(fiber, vmid, kind, effect, submitOptions).admitAndAwait(admit))
        ),
      enqueue: (vmid, kind, effect, submitOptions) =>
        Effect.withFiberRuntime((fiber) => {
          const job = makeJob(fiber, vmid, kind, effect, submitOptions)
          admit(job)
          return Effect.succeed(ticketOf(job))
        }),
      stats: Effect.sync(() => ({ lanes: lanes.size, queued, running }))
    }
  })
