/**
 * SignedOps: the front door for hub-signed ops (docs/architecture.md, invariant 6). `check` runs the
 * Verifier and then admits the op id and seq into the NonceStore, in one transaction, so an
 * op that passes `check` is admitted exactly once, ever (across restarts, too).
 *
 * Seam: `check` ends at replay protection and answers the admitted op; it never runs it. The
 * caller continues the pipeline: → Gate (reversibility) → Engine on the guest's ordered lane
 * (a signed op is journaled with `op.op_id` as its op id; it is never coalesced). An op that is
 * admitted and then refused by the gate stays admitted: its op id is spent, the hub re-signs.
 */
import { Context, Effect, Layer } from "effect"
import { NonceStore, type NonceStoreStorageError } from "../state/NonceStore.js"
import type { OpPayload } from "./OpPayload.js"
import type { SignedOpRefused } from "./SignedOpError.js"
import type { Signers } from "./Signers.js"
import { DEFAULT_MAX_LIFETIME_SECONDS, DEFAULT_SKEW_SECONDS, type VerifiedOp, verify } from "./Verifier.js"

export interface SignedOpsOptions {
  /** This agent's id: the only `aud` accepted and the scope of the seq high-water mark. */
  readonly agentId: string
  readonly signers: Signers
  /** Seconds; default 60. Also how long a nonce outlives its exp. */
  readonly skew?: number
  /** Longest exp - iat, seconds; default 3600. */
  readonly maxLifetime?: number
}

/** A verified op whose id and seq are now recorded: the caller may hand it to the gate. */
export interface AdmittedOp extends VerifiedOp {
  /** Epoch milliseconds of the admission (Clock). */
  readonly admittedAt: number
}

export interface SignedOpsShape {
  /** Verifier, then NonceStore.admit; nothing is applied here. */
  readonly check: (envelope: unknown) => Effect.Effect<AdmittedOp, SignedOpRefused | NonceStoreStorageError>
  /** Verifier only, without spending the op id (for `op verify` and dry runs). */
  readonly verifyOnly: (envelope: unknown) => Effect.Effect<VerifiedOp, SignedOpRefused>
  readonly agentId: string
}

export class SignedOps extends Context.Tag("felhom/SignedOps")<SignedOps, SignedOpsShape>() {
  static readonly layer = (options: SignedOpsOptions): Layer.Layer<SignedOps, never, NonceStore> =>
    Layer.effect(SignedOps, Effect.suspend(() => make(options)))
}

export const make = (options: SignedOpsOptions) =>
  Effect.gen(function*() {
    const nonces = yield* NonceStore
    const skew = options.skew ?? DEFAULT_SKEW_SECONDS
    const verifyOptions = {
      agentId: options.agentId,
      signers: options.signers,
      skew,
      maxLifetime: options.maxLifetime ?? DEFAULT_MAX_LIFETIME_SECONDS
    }
    const verifyOnly = (envelope: unknown) => verify(envelope, verifyOptions)
    const check = (envelope: unknown) =>
      Effect.gen(function*() {
        const verified = yield* verifyOnly(envelope)
        const admitted = yield* nonces.admit(admitInput(verified.op, skew))
        return { ...verified, admittedAt: admitted.admittedAt }
      }).pipe(Effect.withSpan("SignedOps.check"))
    return SignedOps.of({ check, verifyOnly, agentId: options.agentId })
  })

/** Kept until exp + skew: until then the verifier could still accept the op. */
const admitInput = (op: OpPayload, skew: number) => ({
  opId: op.op_id,
  seq: op.seq,
  agent: op.aud,
  expiresAt: op.exp,
  keepUntil: op.exp + skew
})
