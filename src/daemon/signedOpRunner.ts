/**
 * The hub loop's way into the signed-op path: verify → replay check → gate → engine on the
 * guest's ordered lane (src/authz/submit.ts), closed over the daemon's services so the loop
 * holds a plain function that never fails.
 */
import { Context, Effect, Layer } from "effect"
import type { SignedOps } from "../authz/SignedOps.js"
import { submitForHub } from "../authz/submit.js"
import type { OpOutcomeSummary } from "../hub/protocol.js"
import type { Pve } from "../pve/Pve.js"
import type { Engine } from "../reconcile/Engine.js"

export class SignedOpRunner extends Context.Tag("felhom/SignedOpRunner")<SignedOpRunner, {
  readonly run: (envelope: unknown) => Effect.Effect<OpOutcomeSummary>
}>() {}

export const signedOpRunnerLayer: Layer.Layer<SignedOpRunner, never, SignedOps | Engine | Pve> = Layer.effect(
  SignedOpRunner,
  Effect.map(Effect.context<SignedOps | Engine | Pve>(), (services) => ({
    run: (envelope: unknown) => Effect.provide(submitForHub(envelope), services)
  }))
)
