/**
 * The data behind one GuestQueue lane: the FIFO of not-yet-started jobs of one vmid, kept as an
 * intrusive doubly linked list so that a cancelled or superseded job leaves the lane in O(1)
 * instead of lingering as a tombstone (a lane holding only tombstones would look busy and could
 * never be reclaimed). Plain mutable data, touched only inside the synchronous transitions of
 * GuestQueueLanes: JavaScript runs one fiber step at a time, so a section without a yield point is
 * atomic with respect to every other fiber — that is what makes submit, cancel, start and
 * reclaim race-free without locks.
 */
import type { Vmid } from "../domain/Vmid.js"
import type { GuestJob } from "./GuestJob.js"

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
  /** Link of the ReadyLanes FIFO; meaningful only while `state` is "ready". */
  nextReady: GuestLane | undefined
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
  reaperArmed: false,
  nextReady: undefined
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

/**
 * The lanes that have work and no worker, in the order they became ready. An intrusive singly
 * linked FIFO, not an Effect `Queue`: a worker that finishes a job takes the next lane in the
 * same synchronous step instead of a `Queue.take` (a Deferred completion plus a scheduler hop,
 * measured ≈ 50 µs per job), and parks only when this is empty.
 */
export class ReadyLanes {
  private head: GuestLane | undefined = undefined
  private tail: GuestLane | undefined = undefined

  push(lane: GuestLane): void {
    lane.nextReady = undefined
    if (this.tail === undefined) this.head = lane
    else this.tail.nextReady = lane
    this.tail = lane
  }

  shift(): GuestLane | undefined {
    const lane = this.head
    if (lane === undefined) return undefined
    this.head = lane.nextReady
    if (this.head === undefined) this.tail = undefined
    lane.nextReady = undefined
    return lane
  }

  clear(): void {
    this.head = undefined
    this.tail = undefined
  }
}
