/**
 * A gate for tests that run actions whatever config keys they touch. It is the real gate with
 * its allowlist widened, for each action, to that action's own keys: so a reversible planned
 * action always passes, while everything else stays the gate's own — an unsigned irreversible
 * action is still refused and counted (docs/architecture.md, invariants 6 and 9), and the
 * inverses and the safety snapshot are the real ones.
 */
import { Layer } from "effect"
import { Gate, type GateShape, makeGate } from "../../src/gate/Gate.js"
import { configKeysOf } from "../../src/gate/inverse.js"

const gate = makeGate({})

export const allowAll: GateShape = {
  check: (action, context) =>
    gate.check(action, {
      ...context,
      extend: { ...context.extend, allowKeys: [...(context.extend?.allowKeys ?? []), ...configKeysOf(action)] }
    })
}

export const allowAllLayer: Layer.Layer<Gate> = Layer.succeed(Gate, allowAll)
