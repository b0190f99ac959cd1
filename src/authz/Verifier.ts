/**
 * Verifies a signed op envelope, in exactly this order, stopping at the first failure with
 * that step's own error (design.md invariant 6; issue 4 §3):
 * envelope shape → payload type → known keyid → signature → payload decode → audience →
 * time window (bounded skew; bounded lifetime) → capability.
 * The signature is checked over PAE of the base64-decoded bytes, and only those exact bytes are
 * then parsed: nothing an attacker can change outside the signature reaches the op. Replay
 * (NonceStore) comes after, in SignedOps. Pure apart from reading the Clock.
 */
import { Clock, Effect, Either, ParseResult } from "effect"
import { decodeBase64Strict, decodeEnvelope, type Envelope, MAX_ENVELOPE_BYTES, pae, verifySignature } from "./Envelope.js"
import { decodeOpPayload, OP_PAYLOAD_TYPE, type OpPayload } from "./OpPayload.js"
import {
  CapabilityMissing,
  EnvelopeMalformed,
  type Issue,
  NoSigners,
  OpExpired,
  OpLifetimeTooLong,
  OpNotYetValid,
  PayloadMalformed,
  PayloadTypeUnsupported,
  SignatureInvalid,
  UnknownSigner,
  type VerifyRefused,
  WrongAudience
} from "./SignedOpError.js"
import { requiredCapabilities, type Signer, type Signers } from "./Signers.js"
import { parseStrictJson } from "./strictJson.js"

export const DEFAULT_SKEW_SECONDS = 60
export const DEFAULT_MAX_LIFETIME_SECONDS = 3_600

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

/** Schema messages can quote the offending (untrusted, up to 64 KiB) value: keep them short. */
const issuesOf = (e: ParseResult.ParseError): ReadonlyArray<Issue> =>
  ParseResult.ArrayFormatter.formatErrorSync(e).map((i) => ({
    path: i.path.join("."),
    message: i.message.length > 200 ? `${i.message.slice(0, 200)}…` : i.message
  }))

const malformed = (message: string) => new EnvelopeMalformed({ issues: [{ path: "", message }] })

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true })

/** Duplicate keys are refused in the envelope and, above all, in the signed payload. */
const parseJson = parseStrictJson

/** Bytes or text are parsed as JSON (bounded, strict UTF-8); anything else is taken as parsed. */
const parseInput = (input: unknown): Either.Either<unknown, EnvelopeMalformed> => {
  if (input instanceof Uint8Array) {
    if (input.length > MAX_ENVELOPE_BYTES) return Either.left(malformed(`larger than ${MAX_ENVELOPE_BYTES} bytes`))
    try {
      return Either.mapLeft(parseJson(fatalUtf8.decode(input)), malformed)
    } catch {
      return Either.left(malformed("not valid UTF-8"))
    }
  }
  if (typeof input === "string") {
    if (Buffer.byteLength(input, "utf8") > MAX_ENVELOPE_BYTES) {
      return Either.left(malformed(`larger than ${MAX_ENVELOPE_BYTES} bytes`))
    }
    return Either.mapLeft(parseJson(input), malformed)
  }
  return Either.right(input)
}

const shape = (input: unknown): Either.Either<Envelope, EnvelopeMalformed> =>
  Either.flatMap(parseInput(input), (json) =>
    Either.mapLeft(decodeEnvelope(json), (e) => new EnvelopeMalformed({ issues: issuesOf(e) })))

const knownSigners = (envelope: Envelope, signers: Signers) => {
  if (signers.byKeyId.size === 0) return Either.left(new NoSigners({ reason: signers.emptyReason }))
  const known = envelope.signatures.flatMap((s) => {
    const signer = signers.byKeyId.get(s.keyid)
    return signer === undefined ? [] : [{ signer, sig: s.sig }]
  })
  return known.length > 0
    ? Either.right(known)
    : Either.left(new UnknownSigner({ keyids: envelope.signatures.map((s) => s.keyid) }))
}

/** DSSE: accept the signatures by known keyids that verify over PAE(type, payload). */
const validSigners = (
  envelope: Envelope,
  payload: Uint8Array,
  known: ReadonlyArray<{ readonly signer: Signer; readonly sig: string }>
): Either.Either<ReadonlyArray<Signer>, SignatureInvalid> => {
  const message = pae(envelope.payloadType, payload)
  const valid = known.filter(({ sig, signer }) => {
    const bytes = decodeBase64Strict(sig)
    return Either.isRight(bytes) && verifySignature(signer.publicKey, message, bytes.right)
  }).map((k) => k.signer)
  return valid.length > 0
    ? Either.right(valid)
    : Either.left(new SignatureInvalid({ keyids: known.map((k) => k.signer.keyid) }))
}

const decodePayload = (bytes: Uint8Array): Either.Either<OpPayload, PayloadMalformed> => {
  const one = (message: string) => new PayloadMalformed({ issues: [{ path: "", message }] })
  let text: string
  try {
    text = fatalUtf8.decode(bytes)
  } catch {
    return Either.left(one("not valid UTF-8"))
  }
  return Either.flatMap(
    Either.mapLeft(parseJson(text), one),
    (json) => Either.mapLeft(decodeOpPayload(json), (e) => new PayloadMalformed({ issues: issuesOf(e) }))
  )
}

const timeWindow = (op: OpPayload, now: number, skew: number, maxLifetime: number) => {
  if (now > op.exp + skew) return Either.left(new OpExpired({ opId: op.op_id, exp: op.exp, now, skew }))
  if (op.nbf !== undefined && op.nbf > now + skew) {
    return Either.left(new OpNotYetValid({ opId: op.op_id, bound: "nbf", at: op.nbf, now, skew }))
  }
  if (op.iat > now + skew) return Either.left(new OpNotYetValid({ opId: op.op_id, bound: "iat", at: op.iat, now, skew }))
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
  return Either.left(new CapabilityMissing({
    opId: op.op_id,
    action: op.action.kind,
    keyids: valid.map((s) => s.keyid),
    missing: needed.filter((c) => first === undefined || !first.capabilities.has(c))
  }))
}

/** The checks without the clock read; `now` in epoch seconds. */
export const verifyAt = (input: unknown, options: VerifyOptions, now: number): Either.Either<VerifiedOp, VerifyRefused> => {
  const skew = options.skew ?? DEFAULT_SKEW_SECONDS
  const maxLifetime = options.maxLifetime ?? DEFAULT_MAX_LIFETIME_SECONDS
  return Either.gen(function*() {
    const envelope = yield* shape(input)
    if (envelope.payloadType !== OP_PAYLOAD_TYPE) {
      return yield* Either.left(new PayloadTypeUnsupported({ payloadType: envelope.payloadType, expected: OP_PAYLOAD_TYPE }))
    }
    const known = yield* knownSigners(envelope, options.signers)
    // The shape step already proved the payload is canonical base64.
    const payloadBytes = yield* Either.mapLeft(decodeBase64Strict(envelope.payload), malformed)
    const valid = yield* validSigners(envelope, payloadBytes, known)
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
