/**
 * Why a signed op was refused, one error per verification step (docs/architecture.md, invariant 6), in
 * the order the Verifier checks them. They are Schema.TaggedError because they travel: to the
 * hub as the op's answer, into logs and `op verify`. None carries key material (invariant 8):
 * they name the keyid, the path or the time bound that was wrong, never a key or a signature.
 * Strings an attacker controls are shortened before they reach a message.
 */
import { Schema } from "effect"
import { NonceStoreFull, OpReplayed, SeqNotIncreasing } from "../state/NonceStore.js"

export { NonceStoreFull, OpReplayed, SeqNotIncreasing }

/** Quotes an untrusted string for a message, bounded so a refusal cannot flood a log. */
export const quote = (s: string, max = 80): string => JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s)

const Issue = Schema.Struct({ path: Schema.String, message: Schema.String })
export type Issue = typeof Issue.Type

const issueText = (issues: ReadonlyArray<Issue>): string =>
  issues.map((i) => (i.path === "" ? i.message : `${i.path}: ${i.message}`)).join("; ")

/** Not JSON, too large, not a DSSE envelope, or a field not in canonical base64. */
export class EnvelopeMalformed extends Schema.TaggedError<EnvelopeMalformed>()("EnvelopeMalformed", {
  issues: Schema.Array(Issue)
}) {
  override get message(): string {
    return `envelope malformed: ${issueText(this.issues)}`
  }
}

export class PayloadTypeUnsupported extends Schema.TaggedError<PayloadTypeUnsupported>()("PayloadTypeUnsupported", {
  payloadType: Schema.String,
  expected: Schema.String
}) {
  override get message(): string {
    return `payload type ${quote(this.payloadType)} is not supported (expected ${this.expected})`
  }
}

/** Signers are configured, but none of the envelope's keyids is one of them. */
export class UnknownSigner extends Schema.TaggedError<UnknownSigner>()("UnknownSigner", {
  keyids: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `no configured signer has keyid ${this.keyids.map((k) => quote(k)).join(", ")}`
  }
}

/** Every signature by a known keyid failed to verify over PAE(type, payload). */
export class SignatureInvalid extends Schema.TaggedError<SignatureInvalid>()("SignatureInvalid", {
  keyids: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `signature by ${this.keyids.join(", ")} does not verify`
  }
}

/** The verified bytes are not a valid op: every bad path is named. */
export class PayloadMalformed extends Schema.TaggedError<PayloadMalformed>()("PayloadMalformed", {
  issues: Schema.Array(Issue)
}) {
  override get message(): string {
    return `payload malformed: ${issueText(this.issues)}`
  }
}

export class WrongAudience extends Schema.TaggedError<WrongAudience>()("WrongAudience", {
  opId: Schema.String,
  expected: Schema.String,
  aud: Schema.String
}) {
  override get message(): string {
    return `op ${this.opId} is for agent ${quote(this.aud)}, this agent is ${quote(this.expected)}`
  }
}

export class OpExpired extends Schema.TaggedError<OpExpired>()("OpExpired", {
  opId: Schema.String,
  exp: Schema.Number,
  now: Schema.Number,
  skew: Schema.Number
}) {
  override get message(): string {
    return `op ${this.opId} expired: exp ${this.exp} + skew ${this.skew}s < now ${this.now}`
  }
}

export class OpNotYetValid extends Schema.TaggedError<OpNotYetValid>()("OpNotYetValid", {
  opId: Schema.String,
  /** Which claim is in the future: `nbf`, or `iat` (an op issued in the future). */
  bound: Schema.Literal("nbf", "iat"),
  at: Schema.Number,
  now: Schema.Number,
  skew: Schema.Number
}) {
  override get message(): string {
    return `op ${this.opId} is not yet valid: ${this.bound} ${this.at} > now ${this.now} + skew ${this.skew}s`
  }
}

export class OpLifetimeTooLong extends Schema.TaggedError<OpLifetimeTooLong>()("OpLifetimeTooLong", {
  opId: Schema.String,
  iat: Schema.Number,
  exp: Schema.Number,
  maxLifetime: Schema.Number
}) {
  override get message(): string {
    return `op ${this.opId} lives ${this.exp - this.iat}s (exp - iat), more than the ${this.maxLifetime}s allowed`
  }
}

export class CapabilityMissing extends Schema.TaggedError<CapabilityMissing>()("CapabilityMissing", {
  opId: Schema.String,
  action: Schema.String,
  keyids: Schema.Array(Schema.String),
  missing: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `op ${this.opId} (${this.action}) needs capability ${this.missing.join(", ")}, ` +
      `which signer ${this.keyids.join(", ")} does not hold`
  }
}

/** No signer configured (or the signers file could not be used): every signed op is refused. */
export class NoSigners extends Schema.TaggedError<NoSigners>()("NoSigners", {
  reason: Schema.String
}) {
  override get message(): string {
    return `signed ops are refused: ${this.reason}`
  }
}

export type VerifyRefused =
  | EnvelopeMalformed
  | PayloadTypeUnsupported
  | NoSigners
  | UnknownSigner
  | SignatureInvalid
  | PayloadMalformed
  | WrongAudience
  | OpExpired
  | OpNotYetValid
  | OpLifetimeTooLong
  | CapabilityMissing

export type SignedOpRefused = VerifyRefused | OpReplayed | SeqNotIncreasing | NonceStoreFull

export const SignedOpRefused = Schema.Union(
  EnvelopeMalformed,
  PayloadTypeUnsupported,
  NoSigners,
  UnknownSigner,
  SignatureInvalid,
  PayloadMalformed,
  WrongAudience,
  OpExpired,
  OpNotYetValid,
  OpLifetimeTooLong,
  CapabilityMissing,
  OpReplayed,
  SeqNotIncreasing,
  NonceStoreFull
)
