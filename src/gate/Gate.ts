/**
 * The reversibility gate (docs/architecture.md, invariants 6 and 9): before the engine journals an action
 * it asks the gate, inside the guest's queue job and with the pre-state read there, whether the
 * action may run and how to undo it. The answer's inverse is journaled with the intent.
 *
 * Policy, by who asks:
 * - planned (automatic reconcile): only reversible actions, and a SetConfig only on keys of the
 *   benign allowlist (default: description, tags, onboot, name, protection, startup; more by
 *   configuration). Start/Stop are allowed: they are reversible, and the desired document's
 *   `power` field states them explicitly — refusing them would make `power` meaningless.
 * - signed: anything the Verifier let through (it already checked the signer's capability per
 *   action); irreversible actions are allowed only here — the gate double-checks the origin.
 * - revert: an operator undoing a journaled op; the inverse restores a state that existed.
 *
 * With `safetySnapshot` on, a rollback first takes a safety snapshot (its own journaled op,
 * which the engine runs first) and becomes reversible: its inverse is a rollback to it.
 * Every refusal is counted in `felhom_gate_refusals_total{reason}`.
 */
import { Config, type ConfigError, Context, Effect, Layer, Schema } from "effect"
import { type Action, SnapshotCreate } from "../domain/Action.js"
import { recordGateRefusal } from "../domain/Metrics.js"
import type { JsonValue } from "../state/OpRecord.js"
import { configKeysOf, inverseOf, inverseToJson, isReversible, type PreState, safetySnapshotName } from "./inverse.js"

export const GateRefusalReason = Schema.Literal("not-allowlisted", "irreversible-unsigned")
export type GateRefusalReason = typeof GateRefusalReason.Type

/** The gate refused an action; the engine reports it as skipped and never calls PVE. */
export class GateRefused extends Schema.TaggedError<GateRefused>()("GateRefused", {
  reason: GateRefusalReason,
  /** The config keys outside the allowlist (empty for other reasons). */
  keys: Schema.Array(Schema.String),
  action: Schema.String
}) {
  override get message(): string {
    return this.reason === "not-allowlisted"
      ? `refused by the reversibility gate: ${this.action} of ${
        this.keys.join(", ")
      } is not on the reconcile allowlist (a signed op may change it)`
      : `refused by the reversibility gate: ${this.action} cannot be undone and needs a signed op from a signer with the irreversible capability`
  }
}

/** Who asks: the reconciler, a verified signed op, or `revert`. */
export type GateOrigin = "planned" | "signed" | "revert"

export interface GateContext {
  readonly origin: GateOrigin
  readonly opId: string
  readonly pre: PreState
  /**
   * Added to the gate's own policy for this one action: what an operator's command asked for
   * (`apply --allow-keys`, `--safety-snapshot`), also when the daemon runs it for them.
   */
  readonly extend?: Pick<GatePolicy, "allowKeys" | "safetySnapshot">
}

export interface GateDecision {
  /** How to undo the action, journaled with its intent; null when it cannot be undone. */
  readonly inverse: JsonValue | null
  /** An action the engine must run first as its own journaled op (the safety snapshot). */
  readonly before?: { readonly opId: string; readonly action: Action }
}

export interface GateShape {
  readonly check: (action: Action, context: GateContext) => Effect.Effect<GateDecision, GateRefused>
}

export const DEFAULT_ALLOWLIST: ReadonlyArray<string> = [
  "description",
  "tags",
  "onboot",
  "name",
  "protection",
  "startup"
]

export interface GatePolicy {
  /** Keys automatic reconcile may write; the defaults are always included. */
  readonly allowKeys?: ReadonlyArray<string>
  /** Take a safety snapshot before every rollback, making it reversible. Default false. */
  readonly safetySnapshot?: boolean
}

const countRefusal = (e: GateRefused) => Effect.zipRight(recordGateRefusal(e.reason), Effect.fail(e))

/**
 * Whether the gate refuses a planned (unsigned) action under this policy, and why: the one rule
 * the gate applies, also what `plan` shows before anything runs. Pure.
 */
export const plannedRefusal = (
  policy: GatePolicy,
  action: Action,
  extend?: GateContext["extend"]
): GateRefused | undefined => {
  if (!isReversible(action)) return new GateRefused({ reason: "irreversible-unsigned", keys: [], action: action._tag })
  const allow = new Set([...DEFAULT_ALLOWLIST, ...(policy.allowKeys ?? []), ...(extend?.allowKeys ?? [])])
  const outside = configKeysOf(action).filter((k) => !allow.has(k))
  return outside.length > 0
    ? new GateRefused({ reason: "not-allowlisted", keys: outside, action: action._tag })
    : undefined
}

export const makeGate = (policy: GatePolicy): GateShape => {
  const check = (action: Action, context: GateContext): Effect.Effect<GateDecision, GateRefused> => {
    if (context.origin === "planned") {
      // Whatever keys are allowed, an unsigned irreversible action never runs (invariant 6).
      const refused = plannedRefusal(policy, action, context.extend)
      if (refused !== undefined) return countRefusal(refused)
    }
    const safetySnapshot = policy.safetySnapshot === true || context.extend?.safetySnapshot === true
    if (action._tag === "SnapshotRollback" && safetySnapshot && context.origin !== "revert") {
      const name = safetySnapshotName(context.opId)
      const before = SnapshotCreate.make({
        guest: action.guest,
        name,
        description: `felhom-agent safety snapshot before rollback to ${action.name} (op ${context.opId})`
      })
      const inverse = inverseOf(action, context.pre, name)
      return Effect.succeed({
        inverse: inverse === null ? null : inverseToJson(inverse),
        before: { opId: `${context.opId}:safety`, action: before }
      })
    }
    const inverse = inverseOf(action, context.pre)
    return Effect.succeed({ inverse: inverse === null ? null : inverseToJson(inverse) })
  }
  return { check }
}

/** `memory, cores` → ["memory", "cores"]: an allowlist as FELHOM_GATE_ALLOW_KEYS and --allow-keys give it. */
export const parseKeyList = (text: string): ReadonlyArray<string> =>
  text.split(",").map((k) => k.trim()).filter((k) => k !== "")

/** Reads the policy from FELHOM_GATE_ALLOW_KEYS (comma-separated) and FELHOM_GATE_SAFETY_SNAPSHOT. */
export const gatePolicyConfig: Config.Config<GatePolicy> = Config.all({
  allowKeys: Config.string("FELHOM_GATE_ALLOW_KEYS").pipe(
    Config.map(parseKeyList),
    Config.withDefault<ReadonlyArray<string>>([])
  ),
  safetySnapshot: Config.boolean("FELHOM_GATE_SAFETY_SNAPSHOT").pipe(Config.withDefault(false))
})

export class Gate extends Context.Tag("felhom/Gate")<Gate, GateShape>() {
  static readonly layer = (policy: GatePolicy = {}): Layer.Layer<Gate> => Layer.succeed(Gate, makeGate(policy))
  /** The policy from the environment (gatePolicyConfig). */
  static readonly layerConfig: Layer.Layer<Gate, ConfigError.ConfigError> = Layer.effect(
    Gate,
    Effect.map(gatePolicyConfig, makeGate)
  )
}
