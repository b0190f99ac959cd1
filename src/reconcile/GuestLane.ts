/**
 * The data behind one GuestQueue lane: the FIFO of not-yet-started jobs of one vmid, kept as an
 * intrusive doubly linked list so that a cancelled or superseded job leaves the lane in O(1)
 * instead of lingering as a tombstone (a lane holding only tombstones would look busy and could
 * never be reclaimed). Plain mutable data, touched only inside synchronous sections of
 * GuestQueue: JavaScript runs one fiber step at a time, so a section without a yield point is
 * atomic with respect to every other fiber — that is what makes submit, cancel, start and
 * reclaim race-free without locks.
 */
import type { Effect } from "effect"
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

/** What the job's own fiber ended with, plus the hand-off of that exit to its submitter. */
export interface GuestJobResult {
  readonly outcome: GuestJobOutcome
  /** Completes the submitter's Deferred; called only after the lane's bookkeeping is done. */
  readonly publish: () => void
}

export interface GuestJob {
  readonly vmid: Vmid
  readonly kind: GuestJobKind
  readonly submittedAt: number
  /** What an interrupted submitter does to this job once it runs (see GuestQueue header). */
  readonly onInterrupt: "detach" | "interrupt"
  state: "queued" | "running" | "finished"
  prev: GuestJob | undefined
  next: GuestJob | undefined
  /** Set by an `interrupt`-policy submitter that was interrupted before the job fiber existed. */
  interruptRequested: boolean
  /** Interrupts the running job's fiber and waits for it; set once the fiber is forked. */
  stop: Effect.Effect<void> | undefined
  /** Builds the effect that runs the job (on the worker, or a child fiber); it never fails. */
  readonly run: () => Effect.Effect<GuestJobResult>
  /** Completes the submitter's Deferred with a queue-level error (superseded, shutdown). */
  readonly reject: (outcome: "superseded" | "shutdown") => void
  /** Waits until the submitter's Deferred is complete, whatever its exit. */
  readonly settled: () => Effect.Effect<void>
}

export interface GuestLane {
  readonly vmid: Vmid
  head: GuestJob | undefined
  tail: GuestJob | undefined
  size: number
  /**
   * idle: no job, not in the ready queue (only idle lanes may be reclaimed);
   * ready: in the ready queue exactly once; running: held by exactly one worker.
   * A lane is never in the ready queue while running, so two workers never serve one vmid.
   */
  state: "idle" | "ready" | "running"
  current: GuestJob | undefined
  /** The one queued, not yet started reconcile job (pve-ha-manager's command slot). */
  pendingReconcile: GuestJob | undefined
  idleSince: number
  reaperArmed: boolean
}

export const makeLane = (vmid: Vmid, now: number): GuestLane => ({
  vmid,
  head: undefined,
  tail: undefined,
  size: 0,
  state: "idle",
  current: undefined,
  pendingReconcile: undefined,
  idleSince: now,
  reaperArmed: false
})

export const append = (lane: GuestLane, job: GuestJob): void => {
  job.prev = lane.tail
  job.next = undefined
  if (lane.tail === undefined) lane.head = job
  else lane.tail.next = job
  lane.tail = job
  lane.size++
  if (job.kind === "reconcile") lane.pendingReconcile = job
}

export const unlink = (lane: GuestLane, job: GuestJob): void => {
  if (job.prev === undefined) lane.head = job.next
  else job.prev.next = job.next
  if (job.next === undefined) lane.tail = job.prev
  else job.next.prev = job.prev
  job.prev = undefined
  job.next = undefined
  lane.size--
  if (lane.pendingReconcile === job) lane.pendingReconcile = undefined
}

export const shift = (lane: GuestLane): GuestJob | undefined => {
  const job = lane.head
  if (job !== undefined) unlink(lane, job)
  return job
}
