/**
 * The points of one op's PVE call where a crash leaves a different journal behind
 * (docs/architecture.md, invariant 5): before the call (intent only), after PVE answered (the
 * UPID not yet journaled), waiting on the task (in-flight with its UPID), and after the task
 * ended (not yet done). The engine tells this service each time an op reaches one.
 *
 * A `Context.Reference` whose default does nothing: the daemon and the CLI compose nothing
 * here. The crash tests provide one around the whole CLI program that stops the process at a
 * phase, so they can kill it exactly there and check that recovery resolves what it left.
 */
import { Context, Effect, Schema } from "effect"

export const EnginePhase = Schema.Literal("before-call", "after-call", "waiting", "after-task")
export type EnginePhase = typeof EnginePhase.Type

export interface EnginePhasesShape {
  /** The op is at `phase`; the engine goes on when this returns. */
  readonly reached: (phase: EnginePhase) => Effect.Effect<void>
}

export class EnginePhases extends Context.Reference<EnginePhases>()("felhom/EnginePhases", {
  defaultValue: (): EnginePhasesShape => ({ reached: () => Effect.void })
}) {}
