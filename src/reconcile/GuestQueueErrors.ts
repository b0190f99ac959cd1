/** How GuestQueue refuses a job it will not run to the end. */
import { Cause, Data } from "effect"
import type { Vmid } from "../domain/Vmid.js"

/** A queued reconcile job replaced by a newer one for the same guest. */
export class GuestQueueSuperseded extends Data.TaggedError("GuestQueueSuperseded")<{
  readonly vmid: Vmid
}> {}

/** The queue was closed before this job could run or finish. */
export class GuestQueueShutdown extends Data.TaggedError("GuestQueueShutdown")<{
  readonly vmid: Vmid
}> {}

export type GuestQueueError = GuestQueueSuperseded | GuestQueueShutdown

export const rejection = (vmid: Vmid, reason: "superseded" | "shutdown"): Cause.Cause<GuestQueueError> =>
  Cause.fail(reason === "superseded" ? new GuestQueueSuperseded({ vmid }) : new GuestQueueShutdown({ vmid }))
