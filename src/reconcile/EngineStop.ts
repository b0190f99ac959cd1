/**
 * How the engine ends one op early: each step that settles the op's outcome fails with `Stop`
 * carrying it, and `Engine.run` turns every `Stop` back into that outcome, so a run never fails.
 */
import { Data, Effect } from "effect"
import { Outcome } from "./Outcome.js"

/** Ends a run early with its outcome; caught at the end of `run`, never escapes. */
export class Stop extends Data.TaggedError("EngineStop")<{ readonly outcome: Outcome }> {}

export const stop = (outcome: Outcome) => new Stop({ outcome })

export const failedOf = (e: { readonly _tag: string; readonly message: string }, exitstatus?: string): Outcome =>
  Outcome.Failed({ errorTag: e._tag, message: e.message, exitstatus })

/** Journal writes that fail leave the op unfinished: recovery resolves it later. */
export const orStop = <A, E extends { readonly _tag: string; readonly message: string }>(
  effect: Effect.Effect<A, E>
): Effect.Effect<A, Stop> => Effect.mapError(effect, (e): Stop => (e instanceof Stop ? e : stop(failedOf(e))))
