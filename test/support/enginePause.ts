/**
 * The crash tests' EnginePhases: at one phase of the first op to reach it, write
 * `FELHOM_TEST_PAUSED <phase>` to stderr and block forever, so the test can SIGKILL the process
 * exactly there (the journal as a crash at that point leaves it). Other phases pass.
 */
import { Effect } from "effect"
import type { EnginePhase, EnginePhasesShape } from "../../src/reconcile/EnginePhases.js"

/** What the paused process writes to stderr; the tests kill it when they read this. */
export const pausedMarker = (phase: EnginePhase): string => `FELHOM_TEST_PAUSED ${phase}`

export const pauseAt = (phase: EnginePhase): EnginePhasesShape => ({
  reached: (reached) =>
    reached === phase
      ? Effect.zipRight(Effect.sync(() => process.stderr.write(`${pausedMarker(phase)}\n`)), Effect.never)
      : Effect.void
})
