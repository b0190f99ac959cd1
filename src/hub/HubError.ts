/**
 * What can go wrong talking to the hub, and why a desired document was refused. Transport
 * errors (HubUnreachable, HubRejected, HubBadResponse) are Data errors: they are logged and
 * drive the backoff, never sent. Refusals of a desired document are Schema errors because they
 * travel in the report. None carries the bearer token (invariant 8): messages are built from
 * the operation, the status and shortened hub-controlled text only.
 */
import { Data, Schema } from "effect"
import { quote } from "../authz/SignedOpError.js"

/** Which protocol call failed, e.g. `GET desired`. */
export type HubOperation = "GET desired" | "GET ops" | "POST report"

/** No HTTP answer: connection refused, TLS failure, reset, or our own deadline. */
export class HubUnreachable extends Data.TaggedError("HubUnreachable")<{
  readonly operation: HubOperation
  readonly reason: string
}> {
  override get message(): string {
    return `hub unreachable (${this.operation}): ${this.reason}`
  }
}

/** The hub answered with a status we do not take as success. */
export class HubRejected extends Data.TaggedError("HubRejected")<{
  readonly operation: HubOperation
  readonly status: number
  /** Seconds, from a Retry-After header (delta-seconds or HTTP date). */
  readonly retryAfter: number | undefined
  readonly detail: string
}> {
  override get message(): string {
    const after = this.retryAfter === undefined ? "" : ` (retry after ${this.retryAfter}s)`
    return `hub refused ${this.operation} with HTTP ${this.status}${after}${
      this.detail === "" ? "" : `: ${this.detail}`
    }`
  }
}

/** A 2xx whose body is too large, not JSON, or not the protocol's shape. */
export class HubBadResponse extends Data.TaggedError("HubBadResponse")<{
  readonly operation: HubOperation
  readonly issue: string
}> {
  override get message(): string {
    return `hub sent a bad answer to ${this.operation}: ${this.issue}`
  }
}

export type HubError = HubUnreachable | HubRejected | HubBadResponse

/** Our own report does not match the protocol's schema (a bug on our side, never sent). */
export class HubReportInvalid extends Data.TaggedError("HubReportInvalid")<{
  readonly issues: ReadonlyArray<string>
}> {
  override get message(): string {
    return `report not sent, it does not match the protocol: ${this.issues.join("; ")}`
  }
}

/** The token file is missing, unreadable or does not hold a usable token (never quoted). */
export class HubTokenUnreadable extends Data.TaggedError("HubTokenUnreadable")<{
  readonly file: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot use hub token file ${this.file}: ${this.reason}`
  }
}

/** The signed payload names another agent: never served to this one. */
export class DesiredWrongAudience extends Schema.TaggedError<DesiredWrongAudience>()("DesiredWrongAudience", {
  revision: Schema.String,
  expected: Schema.String,
  agent: Schema.String
}) {
  override get message(): string {
    return `desired revision ${quote(this.revision)} is for agent ${quote(this.agent)}, this agent is ${
      quote(this.expected)
    }`
  }
}

/** Past expires_at (+ skew) when it arrived: a stale document, possibly a freeze attack. */
export class DesiredExpired extends Schema.TaggedError<DesiredExpired>()("DesiredExpired", {
  revision: Schema.String,
  expiresAt: Schema.Number,
  now: Schema.Number,
  skew: Schema.Number
}) {
  override get message(): string {
    return `desired revision ${
      quote(this.revision)
    } expired: expires_at ${this.expiresAt} + skew ${this.skew}s < now ${this.now}`
  }
}

/** issued_at is in the future (beyond skew), or expires_at is not after issued_at. */
export class DesiredNotYetValid extends Schema.TaggedError<DesiredNotYetValid>()("DesiredNotYetValid", {
  revision: Schema.String,
  issuedAt: Schema.Number,
  now: Schema.Number,
  skew: Schema.Number
}) {
  override get message(): string {
    return `desired revision ${
      quote(this.revision)
    } is issued in the future: issued_at ${this.issuedAt} > now ${this.now} + skew ${this.skew}s`
  }
}

/** Older than the last good document: a replayed or rolled-back document is never accepted. */
export class DesiredRollback extends Schema.TaggedError<DesiredRollback>()("DesiredRollback", {
  revision: Schema.String,
  issuedAt: Schema.Number,
  lastGoodRevision: Schema.String,
  lastGoodIssuedAt: Schema.Number
}) {
  override get message(): string {
    return `desired revision ${quote(this.revision)} (issued_at ${this.issuedAt}) is older than the last good ` +
      `${quote(this.lastGoodRevision)} (issued_at ${this.lastGoodIssuedAt})`
  }
}

/** No valid signature comes from a signer holding the `desired` capability. */
export class DesiredCapabilityMissing
  extends Schema.TaggedError<DesiredCapabilityMissing>()("DesiredCapabilityMissing", {
    revision: Schema.String,
    keyids: Schema.Array(Schema.String)
  })
{
  override get message(): string {
    return `desired revision ${quote(this.revision)} is signed by ${
      this.keyids.join(", ")
    }, which does not hold the desired capability`
  }
}

/** The document's own `revision`, when present, must be the signed payload's revision. */
export class DesiredRevisionMismatch extends Schema.TaggedError<DesiredRevisionMismatch>()("DesiredRevisionMismatch", {
  revision: Schema.String,
  documentRevision: Schema.String
}) {
  override get message(): string {
    return `desired payload revision ${quote(this.revision)} differs from the document's revision ${
      quote(this.documentRevision)
    }`
  }
}

/** The last good document could not be stored or read back (SQLite). */
export class HubStoreError extends Data.TaggedError("HubStoreError")<{
  readonly operation: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `hub state ${this.operation} failed: ${this.reason}`
  }
}
