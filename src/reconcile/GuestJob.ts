/**
 * One job of a GuestQueue lane, and its ticket: the job object is itself the effect that awaits
 * it (`commit`), so an `enqueue` ticket allocates nothing of its own. The job's effect is stored
 * type-erased; the typed view lives only in the submitter's ticket (GuestQueue `ticketOf`). No
 * Deferred and no closures per job: with 100k jobs queued, the closure-per-job shape cost about
 * 3.4 KB/job of heap.
 *
 * Touched only inside the synchronous transitions of GuestQueueLanes (see GuestLane), so no locks.
 */
import type { Context } from "effect"
import { Cause, Effect, Effectable, Exit } from "effect"
import type { Vmid } from "../domain/Vmid.js"

/** `reconcile` jobs coalesce per guest; `ordered` (signed-op) jobs form an ordered log. */
export type GuestJobKind = "reconcile" | "ordered"

/** What happened to a job; the `outcome` label of the jobs counter. */
export type GuestJobOutcome =
  | "success"
  | "failure"
  | "defect"
  | "interrupted"
  | "superseded"
  | "cancelled"
  | "shutdown"

/** The outcome of a job that ended with `cause`, or succeeded (undefined). */
export const outcomeOf = (cause: Cause.Cause<unknown> | undefined): GuestJobOutcome =>
  cause === undefined
    ? "success"
    : Cause.isInterruptedOnly(cause)
    ? "interrupted"
    : Cause.isFailure(cause)
    ? "failure"
    : "defect"

type Waiter = (exit: Exit.Exit<unknown, unknown>) => void

/** The queue's side of awaiting a job, shared by all its jobs. */
export interface GuestJobHooks {
  /** Runs when an awaiter is interrupted before the job settled (GuestQueueLanes `abandon`). */
  readonly cancel: (job: GuestJob) => Effect.Effect<void>
  /** Called when a job with awaiters settles; the queue calls `job.wake()` later. */
  readonly wake: (job: GuestJob) => void
}

export class GuestJob extends Effectable.Class<unknown, unknown> {
  /** "new" until admitted: an awaiter interrupted before admission has nothing to cancel. */
  state: "new" | "queued" | "running" | "finished" = "new"
  /** Links of the lane's intrusive FIFO (GuestLane). */
  prev: GuestJob | undefined = undefined
  next: GuestJob | undefined = undefined
  /** Set by an `interrupt`-policy submitter that was interrupted before the job fiber existed. */
  interruptRequested = false
  /** Interrupts the running job's fiber and waits for it; set once the fiber is forked. */
  stop: Effect.Effect<void> | undefined = undefined
  // The result, set once by `settle`. Kept as value or cause, not as an Exit: a job lives until
  // its ticket is dropped, so an Exit per job outlived the young generation and was copied and
  // promoted by every scavenge; the Exit an awaiter gets is made when it reads it, and dies young.
  private value: unknown = undefined
  private cause: Cause.Cause<unknown> | undefined = undefined
  // One awaiter is the norm (submit, or one await of an enqueue ticket): no array for it.
  private waiter: Waiter | undefined = undefined
  private moreWaiters: Array<Waiter> | undefined = undefined

  constructor(
    readonly vmid: Vmid,
    readonly kind: GuestJobKind,
    /** The submitter's effect; its requirements are met by `context`, captured at submit. */
    readonly effect: Effect.Effect<unknown, unknown>,
    readonly context: Context.Context<never>,
    readonly submittedAt: number,
    /** What an interrupted submitter does to this job once it runs (see GuestQueue header). */
    readonly onInterrupt: "detach" | "interrupt",
    private readonly hooks: GuestJobHooks
  ) {
    super()
  }

  /** Awaiting the ticket: the exit at once if settled, else a wait that cancels on interruption. */
  commit(): Effect.Effect<unknown, unknown> {
    return this.exit() ?? this.wait(undefined)
  }

  /** The job's exit, once settled. */
  exit(): Exit.Exit<unknown, unknown> | undefined {
    return this.state !== "finished"
      ? undefined
      : this.cause === undefined
      ? Exit.succeed(this.value)
      : Exit.failCause(this.cause)
  }

  /**
   * Runs `admit(this)` and starts waiting in one synchronous step (the registration of the
   * wait's `Effect.async`): there is no point at which the job is admitted but an interruption
   * of the submitter would not reach the cancel hook, so no job is ever orphaned.
   */
  admitAndAwait(admit: (job: GuestJob) => void): Effect.Effect<unknown, unknown> {
    return this.wait(admit)
  }

  /** Marks the job finished; its awaiters are resumed when the queue calls `wake`. */
  settle(value: unknown, cause: Cause.Cause<unknown> | undefined): void {
    this.state = "finished"
    this.value = value
    this.cause = cause
    if (this.waiter !== undefined || this.moreWaiters !== undefined) this.hooks.wake(this)
  }

  /** Resumes every awaiter with the exit (each resume schedules its fiber). */
  wake(): void {
    const exit = this.exit()
    const first = this.waiter
    const more = this.moreWaiters
    if (exit === undefined) return
    this.waiter = undefined
    this.moreWaiters = undefined
    if (first !== undefined) first(exit)
    if (more !== undefined) { for (const waiter of more) waiter(exit) }
  }

  /** Waits until the job is settled, whatever its exit; never cancels it. */
  settled(): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      if (this.state === "finished") return resume(Effect.void)
      this.addWaiter(() => resume(Effect.void))
    })
  }

  // Not `Effect.async` with a canceler: Effect wraps that in `onInterrupt`, whose `onExit` runs
  // a cleanup effect after every successful wait too. One failure-only frame does the same here,
  // and a success passes through it untouched. The awaiter is resumed with the job's exit itself,
  // so a failure that arrives while the job is not settled can only be its own interruption.
  private wait(admit: ((job: GuestJob) => void) | undefined): Effect.Effect<unknown, unknown> {
    let registered: Waiter | undefined
    const suspended = Effect.async<unknown, unknown>((resume) => {
      if (admit !== undefined) admit(this)
      // Admission may settle the job at once (queue closed).
      const exit = this.exit()
      if (exit !== undefined) return resume(exit)
      registered = resume
      this.addWaiter(resume)
    })
    return Effect.uninterruptibleMask((restore) =>
      Effect.catchAllCause(restore(suspended), (cause) => {
        if (this.state === "finished") return Exit.failCause(cause)
        if (registered !== undefined) this.removeWaiter(registered)
        return Effect.zipRight(this.hooks.cancel(this), Exit.failCause(cause))
      })
    )
  }

  private addWaiter(waiter: Waiter): void {
    if (this.waiter === undefined) this.waiter = waiter
    else (this.moreWaiters ??= []).push(waiter)
  }

  private removeWaiter(waiter: Waiter): void {
    if (this.waiter === waiter) this.waiter = undefined
    else if (this.moreWaiters !== undefined) {
      const at = this.moreWaiters.indexOf(waiter)
      if (at >= 0) this.moreWaiters.splice(at, 1)
    }
  }
}
