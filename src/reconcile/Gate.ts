/**
 * The seam for the reversibility gate (design.md "Gate"): before the engine journals an action
 * it asks the gate for the action's inverse, and the gate may refuse. The real gate (inverses
 * recorded from the observed pre-state, refusal of what cannot be undone unless a signed op
 * allows it) comes with its own issue; until then `Gate.allowAll` allows everything and
 * records no inverse, which the journal stores honestly as `inverse: null`.
 */
import { Context, Effect, Layer, Schema } from "effect"
import type { Action } from "../domain/Action.js"
import type { JsonValue } from "../state/OpRecord.js"
import type { ObservedGuest } from "./plan.js"

/** The gate refused an action; the engine reports it as skipped and never calls PVE. */
export class GateRefused extends Schema.TaggedError<GateRefused>()("GateRefused", {
  reason: Schema.String
}) {
  override get message(): string {
    return `refused by the reversibility gate: ${this.reason}`
  }
}

export interface GateDecision {
  /** How to undo the action, journaled with its intent; null when none is recorded. */
  readonly inverse: JsonValue | null
}

export interface GateShape {
  readonly check: (action: Action, observed: ObservedGuest | undefined) => Effect.Effect<GateDecision, GateRefused>
}

export class Gate extends Context.Tag("felhom/Gate")<Gate, GateShape>() {
  /** Allows every action and records no inverse: the behaviour before the gate exists. */
  static readonly allowAll: Layer.Layer<Gate> = Layer.succeed(Gate, {
    check: () => Effect.succeed({ inverse: null })
  })
}
