/**
 * What can go wrong with the journal. Errors that travel (to the hub, into reports) are
 * Schema.TaggedError; storage failures stay Data.TaggedError with their cause for the log.
 * None of them carries the token secret: the journal never receives it (OpRecord.TokenUser).
 */
import { Data, Schema } from "effect"
import { OpPhase, OpRecord } from "./OpRecord.js"

/** The op id is already done: it is answered, not run again (docs/architecture.md, invariant 5). */
export class JournalAlreadyApplied extends Schema.TaggedError<JournalAlreadyApplied>()("JournalAlreadyApplied", {
  op: OpRecord
}) {
  override get message(): string {
    return `op ${this.op.opId} (${this.op.action} on ${this.op.vmid}) was already applied`
  }
}

/** The same op id came back with other params (or another guest/action): never silently reused. */
export class JournalOpConflict extends Schema.TaggedError<JournalOpConflict>()("JournalOpConflict", {
  opId: Schema.String,
  existingHash: Schema.String,
  requestedHash: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `op ${this.opId} is already journaled with different content: ${this.reason}`
  }
}

/** The op was flagged for the operator; it does not run again until they resolve it. */
export class JournalNeedsOperator extends Schema.TaggedError<JournalNeedsOperator>()("JournalNeedsOperator", {
  op: OpRecord
}) {
  override get message(): string {
    return `op ${this.op.opId} waits for an operator: ${this.op.detail?.message ?? "flagged"}`
  }
}

/** The intent did not decode (bad vmid, node, token user…); `issues` never echoes the token user. */
export class JournalInvalidOp extends Schema.TaggedError<JournalInvalidOp>()("JournalInvalidOp", {
  opId: Schema.String,
  issues: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `op ${this.opId} is not a valid intent: ${this.issues.join("; ")}`
  }
}

export class JournalOpNotFound extends Schema.TaggedError<JournalOpNotFound>()("JournalOpNotFound", {
  opId: Schema.String
}) {
  override get message(): string {
    return `op ${this.opId} is not in the journal`
  }
}

/** An id prefix that names more than one op; the candidates are listed, as git does. */
export class JournalOpAmbiguous extends Schema.TaggedError<JournalOpAmbiguous>()("JournalOpAmbiguous", {
  prefix: Schema.String,
  candidates: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `op id ${this.prefix} is ambiguous; it starts ${
      this.candidates.length > 10 ? "more than 10 ops" : `${this.candidates.length} ops`
    }: ${this.candidates.slice(0, 10).join(", ")}`
  }
}

/** A phase change the lifecycle does not allow (e.g. finishing an op that already failed). */
export class JournalBadTransition extends Schema.TaggedError<JournalBadTransition>()("JournalBadTransition", {
  opId: Schema.String,
  from: OpPhase,
  to: OpPhase
}) {
  override get message(): string {
    return `op ${this.opId} cannot move from ${this.from} to ${this.to}`
  }
}

/** SQLite failed, or a stored row no longer decodes. */
export class JournalStorageError extends Data.TaggedError("JournalStorageError")<{
  readonly operation: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `journal ${this.operation} failed: ${this.reason}`
  }
}

export type JournalWriteError = JournalOpNotFound | JournalBadTransition | JournalStorageError
export type JournalIntentError =
  | JournalAlreadyApplied
  | JournalOpConflict
  | JournalNeedsOperator
  | JournalInvalidOp
  | JournalStorageError
