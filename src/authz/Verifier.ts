/**
 * Verifies a signed op envelope, in exactly this order, stopping at the first failure with
 * that step's own error, so a refusal names exactly what failed (docs/architecture.md,
 * invariant 6):
 * envelope shape → payload type → known keyid → signature → payload decode → audience →
 * time window (bounded skew; bounded lifetime) → capability.
 * The signature is checked over PAE of the base64-decoded bytes, and only those exact bytes are
 * then parsed: nothing an attacker can change outside the signature reaches the op. Replay
 * (NonceStore) comes after, in SignedOps. Pure apart from reading the Clock.
 */
import { Clock, Effect, Either } from "effect"
import { MAX_ENVELOPE_BYTES } from "./Envelope.js"
import { decodeOpPayload, OP_PAYLOAD_TYPE, type OpPayload } from "./OpPayload.js"
import {
  CapabilityMissing,
  OpExpired,
  OpLifetimeTooLong,
  OpNotYetValid,
  PayloadMalformed,
  type VerifyRefused,
  WrongAudience
} from "./SignedOpError.js"
import { requiredCapabilities, type Signer, type Signers } from "./Signers.js"
import { DEFAULT_MAX_LIFETIME_SECONDS, DEFAULT_SKEW_SECONDS } from "./verifyDefaults.js"
import { issuesOf, payloadJson, verifyEnvelope } from "./verifyEnvelope.js"

export { DEFAULT_MAX_LIFETIME_SECONDS, DEFAULT_SKEW_SECONDS }

export interface VerifyOptions {
  readonly agentId: string
  readonly signers: Signers
  /** Tolerated clock difference with the signer, seconds; default 60. */
  readonly skew?: number
  /** Longest allowed exp - iat, seconds; default 3600 (a short exp defeats freeze attacks). */
  readonly maxLifetime?: number
  /** Epoch seconds; default the Effect Clock (so TestClock drives tests). */
  readonly now?: number
}

export interface VerifiedOp {
  readonly op: OpPayload
  /** Exactly the bytes that were signed and decoded. */
  readonly payloadBytes: Uint8Array
  readonly payloadType: string
  /** The signer whose valid signature carries the needed capabilities. */
  readonly keyid: string
  /** Epoch seconds at which the checks ran. */
  readonly verifiedAt: number
}

/** The steps, in order, each with the refusals it can answer (for `op verify` explanations). */
export const VERIFY_STEPS = [
  { step: "envelope shape", refusals: ["EnvelopeMalformed"] },
  { step: "payload type", refusals: ["PayloadTypeUnsupported"] },
  { step: "known keyid", refusals: ["NoSigners", "UnknownSigner"] },
  { step: "signature", refusals: ["SignatureInvalid"] },
  { step: "payload decode", refusals: ["PayloadMalformed"] },
  { step: "audience", refusals: ["WrongAudience"] },
  { step: "time window", refusals: ["OpExpired", "OpNotYetValid", "OpLifetimeTooLong"] },
  { step: "capability", refusals: ["CapabilityMissing"] }
] as const

const decodePayload = (bytes: Uint8Array): Either.Either<OpPayload, PayloadMalformed> =>
  Either.flatMap(
    payloadJson(bytes),
    (json) => Either.mapLeft(decodeOpPayload(json), (e) => new PayloadMalformed({ issues: issuesOf(e) }))
  )

const timeWindow = (op: OpPayload, now: number, skew: number, maxLifetime: number) => {
  if (now > op.exp + skew) return Either.left(new OpExpired({ opId: op.op_id, exp: op.exp, now, skew }))
  if (op.nbf !== undefined && op.nbf > now + skew) {
    return Either.left(new OpNotYetValid({ opId: op.op_id, bound: "nbf", at: op.nbf, now, skew }))
  }
  if (op.iat > now + skew) {
    return Either.left(new OpNotYetValid({ opId: op.op_id, bound: "iat", at: op.iat, now, skew }))
  }
  if (op.exp - op.iat > maxLifetime) {
    return Either.left(new OpLifetimeTooLong({ opId: op.op_id, iat: op.iat, exp: op.exp, maxLifetime }))
  }
  return Either.right(op)
}

/** A single verified signer must hold every capability the action needs (no pooling). */
const capability = (op: OpPayload, valid: ReadonlyArray<Signer>) => {
  const needed = requiredCapabilities(op.action)
  const holder = valid.find((s) => needed.every((c) => s.capabilities.has(c)))
  if (holder !== undefined) return Either.right(holder)
  const first = valid[0]
  return Either.left(
    new CapabilityMissing({
      opId: op.op_id,
      action: op.action.kind,
      keyids: valid.map((s) => s.keyid),
      missing: needed.filter((c) => first === undefined || !first.capabilities.has(c))
    })
  )
}

/** The checks without the clock read; `now` in epoch seconds. */
export const verifyAt = (
  input: unknown,
  options: VerifyOptions,
  now: number
): Either.Either<VerifiedOp, VerifyRefused> => {
  const skew = options.skew ?? DEFAULT_SKEW_SECONDS
  const maxLifetime = options.maxLifetime ?? DEFAULT_MAX_LIFETIME_SECONDS
  return Either.gen(function*() {
    // Envelope shape → payload type → known keyid → signature (shared with the hub's desired state).
    const { envelope, payloadBytes, signers: valid } = yield* verifyEnvelope(
      input,
      OP_PAYLOAD_TYPE,
      options.signers,
      MAX_ENVELOPE_BYTES
    )
    const op = yield* decodePayload(payloadBytes)
    if (op.aud !== options.agentId) {
      return yield* Either.left(new WrongAudience({ opId: op.op_id, expected: options.agentId, aud: op.aud }))
    }
    yield* timeWindow(op, now, skew, maxLifetime)
    const signer = yield* capability(op, valid)
    return { op, payloadBytes, payloadType: envelope.payloadType, keyid: signer.keyid, verifiedAt: now }
  })
}

/** Verifies `input` (envelope JSON as bytes or text, or already parsed) against the options. */
export const verify = (input: unknown, options: VerifyOptions): Effect.Effect<VerifiedOp, VerifyRefused> =>
  Effect.flatMap(
    options.now === undefined
      ? Effect.map(Clock.currentTimeMillis, (ms) => Math.floor(ms / 1000))
      : Effect.succeed(options.now),
    (now) => verifyAt(input, options, now)
  )
