/**
 * One job of a GuestQueue lane, and its ticket: the job object is itself the effect that awaits
 * it (`commit`), so an `enqueue` ticket allocates nothing of its own. The job's effect is stored
 * type-erased; the typed view lives only in the submitter's ticket (GuestQueue `ticketOf`). No
 * Deferred and no closures per job: with 100k jobs queued, the closure-per-job shape cost about
 * 3.4 KB/job of heap.
 *
 * Touched only inside synchronous sections of GuestQueue (see GuestLane's header), so no locks.
 */
import type { Context, Exit } from "effect"
import { Effect } from "effect"
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

type Waiter = (exit: Exit.Exit<unknown, unknown>) => void

export class GuestJob {
  state: "queued" | "running" | "finished" = "queued"
  /** Links of the lane's intrusive FIFO (GuestLane). */
  prev: GuestJob | undefined = undefined
  next: GuestJob | undefined = undefined
  /** Set by an `interrupt`-policy submitter that was interrupted before the job fiber existed. */
  interruptRequested = false
  /** Interrupts the running job's fiber and waits for it; set once the fiber is forked. */
  stop: Effect.Effect<void> | undefined = undefined
  /** The exit handed to awaiters; set once, by `settle`. */
  exit: Exit.Exit<unknown, unknown> | undefined = undefined
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
    readonly onInterrupt: "detach" | "interrupt"
  ) {}

  /** Marks the job finished and completes every awaiter (synchronously schedules their fibers). */
  settle(exit: Exit.Exit<unknown, unknown>): void {
    this.state = "finished"
    this.exit = exit
    const first = this.waiter
    const more = this.moreWaiters
    this.waiter = undefined
    this.moreWaiters = undefined
    if (first !== undefined) first(exit)
    if (more !== undefined) for (const waiter of more) waiter(exit)
  }

  /**
   * Waits for the exit. `onCancel` runs when the awaiting fiber is interrupted while waiting (it
   * is the async's canceler, so the interrupted fiber waits for it to finish).
   */
  await(onCancel: (job: GuestJob) => Effect.Effect<void>): Effect.Effect<unknown, unknown> {
    return Effect.suspend(() => this.exit ?? this.suspendUntilSettled(onCancel, undefined))
  }

  /**
   * Runs `admit(this)` and starts waiting in one synchronous step (the registration of a single
   * `Effect.async`): there is no point at which the job is admitted but an interruption of the
   * submitter would not reach `onCancel`, so no job is ever orphaned — without the
   * `uninterruptibleMask` + `onInterrupt` pair that cost several fiber ops per submit.
   */
  admitAndAwait(admit: (job: GuestJob) => void, onCancel: (job: GuestJob) => Effect.Effect<void>): Effect.Effect<unknown, unknown> {
    return this.suspendUntilSettled(onCancel, admit)
  }

  /** Waits until the job is settled, whatever its exit; never cancels it. */
  settled(): Effect.Effect<void> {
    return Effect.suspend(() =>
      this.exit !== undefined ? Effect.void : Effect.asVoid(Effect.exit(this.suspendUntilSettled(() => Effect.void, undefined)))
    )
  }

  private suspendUntilSettled(
    onCancel: (job: GuestJob) => Effect.Effect<void>,
    admit: ((job: GuestJob) => void) | undefined
  ): Effect.Effect<unknown, unknown> {
    return Effect.async<unknown, unknown>((resume) => {
      if (admit !== undefined) admit(this)
      // Admission may settle the job at once (queue closed).
      if (this.exit !== undefined) return resume(this.exit)
      const waiter: Waiter = resume
      this.addWaiter(waiter)
      return Effect.suspend(() => {
        this.removeWaiter(waiter)
        return onCancel(this)
      })
    })
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
