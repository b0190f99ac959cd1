/**
 * The state of one GuestQueue and every transition of its jobs and lanes: the lanes by vmid, the
 * FIFO of ready lanes, the parked workers and the counters. Each transition is a synchronous
 * method, hence atomic with respect to every other fiber (see GuestLane): that is what makes
 * admission, cancellation, start, finish and reclamation race-free without locks.
 *
 * - Order is fixed in the submitting fiber: `admit` appends the job to its lane in one step, so
 *   the lane's FIFO is the submit order (forked fibers would reach a lock in scheduler order:
 *   1,999 of 2,000 out of call order, measured).
 * - Lanes with work wait in one FIFO of ready lanes, each at most once; a worker takes a lane,
 *   runs its head job and puts the lane back at the tail. No Semaphore (3.22's wakes every
 *   waiter on each release, O(n²), and lets a releasing fiber overtake queued ones). A running
 *   lane is not in the FIFO, so a vmid never runs twice at once; the FIFO is round-robin, so a
 *   guest with 1,000 queued ops cannot starve another's single op.
 * - A `reconcile` job replaces the lane's queued, not yet started reconcile job (that submitter
 *   fails with GuestQueueSuperseded) and goes to the tail; `ordered` jobs are never coalesced.
 *   A running job is never replaced.
 * - An idle lane's reaper deletes it after `idleTtl` only if it is still idle; with admission's
 *   lookup-or-create, a submit finds the lane (and makes it busy) or creates the only one.
 */
import { Cause, Duration, Effect, FiberId } from "effect"
import type { Clock } from "effect"
import type { Vmid } from "../domain/Vmid.js"
import type { GuestJob, GuestJobHooks } from "./GuestJob.js"
import { outcomeOf } from "./GuestJob.js"
import type { GuestLane } from "./GuestLane.js"
import { append, makeLane, ReadyLanes, shift, unlink } from "./GuestLane.js"
import { rejection } from "./GuestQueueErrors.js"
import { addQueueDepth, countJob, recordWait } from "./GuestQueueMetrics.js"

export class GuestQueueLanes {
  queued = 0
  running = 0
  private closed = false
  private readonly lanes = new Map<Vmid, GuestLane>()
  private readonly ready = new ReadyLanes()
  /** Workers waiting for a ready lane (resume callbacks); `admit` wakes one per lane made ready. */
  private readonly parked: Array<(wake: Effect.Effect<void>) => void> = []
  private toWake: Array<GuestJob> = []

  /** How a job's awaiters reach the queue: cancellation, and resumption once per turn. */
  readonly hooks: GuestJobHooks = {
    cancel: (job) => this.abandon(job),
    // A fiber awaiting tickets in order would suspend and be resumed (an async registration, a
    // mailbox message, a scheduler task) for every job, because jobs of different guests finish
    // in separate I/O callbacks. Resumed once after the turn instead, it finds the following
    // tickets settled and reads their exits without suspending (100k jobs over 1,000 guests,
    // measured: 100 suspensions instead of 100,000 at concurrency 1,000, 25,000 at 4). The cost
    // is up to one event-loop turn of latency per result.
    wake: (job) => {
      if (this.toWake.push(job) === 1) setImmediate(this.wakeAll)
    }
  }

  /** A worker's wait for a ready lane. */
  readonly park: Effect.Effect<void> = Effect.async<void>((resume) => {
    this.parked.push(resume)
  })

  constructor(
    // TestClock implements unsafeCurrentTimeMillis too, so wait times and TTLs follow it in tests.
    private readonly clock: Clock.Clock,
    private readonly idleTtlMillis: number
  ) {}

  get lanesCount(): number {
    return this.lanes.size
  }

  /** The whole admission (order, coalescing, lane lookup) in one step. */
  admit(job: GuestJob): void {
    if (this.closed) {
      countJob(job.kind, "shutdown")
      return job.settle(undefined, rejection(job.vmid, "shutdown"))
    }
    job.state = "queued"
    let lane = this.lanes.get(job.vmid)
    if (lane === undefined) {
      lane = makeLane(job.vmid, this.clock.unsafeCurrentTimeMillis())
      this.lanes.set(job.vmid, lane)
    }
    const replaced = job.kind === "reconcile" ? lane.pendingReconcile : undefined
    if (replaced !== undefined) {
      unlink(lane, replaced)
      this.addQueued(-1)
      countJob(replaced.kind, "superseded")
      replaced.settle(undefined, rejection(replaced.vmid, "superseded"))
    }
    append(lane, job)
    this.addQueued(1)
    if (lane.state === "idle") {
      lane.state = "ready"
      this.ready.push(lane)
      this.parked.pop()?.(Effect.void)
    }
  }

  /**
   * An awaiter was interrupted before its job settled. A queued job is removed and never runs.
   * A running one goes on (a PVE mutation in flight must reach a journaled phase) unless it was
   * submitted with `onInterrupt: "interrupt"`: then it is stopped and this waits for it.
   */
  abandon(job: GuestJob): Effect.Effect<void> {
    if (job.state === "queued") {
      // A queued job's lane is never idle, hence never reclaimed: the lookup finds it.
      const lane = this.lanes.get(job.vmid)
      if (lane !== undefined) unlink(lane, job)
      this.addQueued(-1)
      countJob(job.kind, "cancelled")
      // Anyone else awaiting the same ticket learns it will never run, instead of waiting forever.
      job.settle(undefined, Cause.interrupt(FiberId.none))
      return Effect.void
    }
    if (job.state === "running" && job.onInterrupt === "interrupt") {
      job.interruptRequested = true
      return Effect.zipRight(job.stop ?? Effect.void, job.settled())
    }
    return Effect.void
  }

  /** The next lane with work and no worker, if any. */
  takeReady(): GuestLane | undefined {
    return this.ready.shift()
  }

  /** Takes the lane's head job, or returns undefined when cancellations emptied the lane. */
  start(lane: GuestLane): GuestJob | undefined {
    const job = shift(lane)
    if (job === undefined) return undefined
    this.addQueued(-1)
    job.state = "running"
    lane.state = "running"
    lane.current = job
    this.running++
    recordWait(this.clock.unsafeCurrentTimeMillis() - job.submittedAt)
    return job
  }

  /**
   * Releases the lane and publishes the job's result (`cause` undefined: it succeeded with
   * `value`); true if the lane's reaper must start.
   */
  finish(lane: GuestLane, job: GuestJob, value: unknown, cause: Cause.Cause<unknown> | undefined): boolean {
    lane.current = undefined
    this.running--
    countJob(job.kind, outcomeOf(cause))
    let needsReaper = false
    if (lane.size === 0) needsReaper = this.goIdle(lane)
    else {
      // Back to the tail, so no guest starves. No parked worker is woken: the caller takes the
      // FIFO's head next, in this same step.
      lane.state = "ready"
      this.ready.push(lane)
    }
    job.settle(value, cause)
    return needsReaper
  }

  /** Marks an empty lane idle; true if the caller must start its reaper. */
  goIdle(lane: GuestLane): boolean {
    lane.state = "idle"
    lane.idleSince = this.clock.unsafeCurrentTimeMillis()
    if (lane.reaperArmed || this.closed || !Number.isFinite(this.idleTtlMillis)) return false
    lane.reaperArmed = true
    return true
  }

  /**
   * The lane's reaper: at most one per lane. A lane reused and idle again pushes its deadline
   * back, which the reaper sees when it wakes, so it sleeps the remainder instead of forking anew.
   */
  reap(lane: GuestLane, delayMillis = this.idleTtlMillis): Effect.Effect<void> {
    return Effect.zipRight(
      Effect.sleep(Duration.millis(delayMillis)),
      Effect.suspend(() => {
        if (lane.state !== "idle" || this.lanes.get(lane.vmid) !== lane) {
          lane.reaperArmed = false
          return Effect.void
        }
        const remaining = lane.idleSince + this.idleTtlMillis - this.clock.unsafeCurrentTimeMillis()
        if (remaining > 0) return this.reap(lane, remaining)
        this.lanes.delete(lane.vmid)
        lane.reaperArmed = false
        return Effect.void
      })
    )
  }

  /** First half of shutdown: refuse new jobs; parked workers are about to be interrupted. */
  close(): void {
    this.closed = true
    this.parked.length = 0
  }

  /** Second half, once the workers are gone: every job still waiting fails with GuestQueueShutdown. */
  rejectAll(): void {
    this.ready.clear()
    for (const lane of this.lanes.values()) {
      const active = lane.current
      if (active !== undefined && active.state === "running") {
        countJob(active.kind, "shutdown")
        active.settle(undefined, rejection(active.vmid, "shutdown"))
      }
      for (let job = shift(lane); job !== undefined; job = shift(lane)) {
        this.addQueued(-1)
        countJob(job.kind, "shutdown")
        job.settle(undefined, rejection(job.vmid, "shutdown"))
      }
    }
    this.lanes.clear()
    this.running = 0
  }

  private addQueued(delta: number): void {
    this.queued += delta
    addQueueDepth(delta)
  }

  private readonly wakeAll = (): void => {
    const jobs = this.toWake
    this.toWake = []
    for (const job of jobs) job.wake()
  }
}
