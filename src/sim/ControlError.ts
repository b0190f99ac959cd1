/**
 * A control API request the simulated cluster refuses (unknown guest, duplicate vmid, a
 * migration it cannot begin). Its own module because the cluster and the changes it makes for
 * other actors (OutsideChanges.ts) both answer it.
 */
import { Data } from "effect"

export class SimControlError extends Data.TaggedError("SimControlError")<{ readonly message: string }> {}
