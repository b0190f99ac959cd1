/**
 * The daemon's local control protocol, version 1 (docs/control-protocol.md): how `apply`,
 * `revert` and `op submit` hand their request to a running daemon, which is then the single
 * writer of the state directory. One request per connection, as one JSON line; the daemon
 * answers with JSON lines: `accepted`, then exactly one `output` or `error`, then closes.
 */
import { Schema } from "effect"

export const CONTROL_SOCKET = "control.sock"
export const PROTOCOL_VERSION = 1
/** A request line longer than this is refused unread (a desired document is at most a few MiB). */
export const MAX_REQUEST_BYTES = 8 * 1024 * 1024

export const ApplyRequest = Schema.Struct({
  v: Schema.Literal(PROTOCOL_VERSION),
  command: Schema.Literal("apply"),
  /** The desired document, as the CLI decoded it from its file. */
  desired: Schema.Unknown,
  allowKeys: Schema.Array(Schema.String)
})

export const RevertRequest = Schema.Struct({
  v: Schema.Literal(PROTOCOL_VERSION),
  command: Schema.Literal("revert"),
  opId: Schema.String
})

export const SubmitRequest = Schema.Struct({
  v: Schema.Literal(PROTOCOL_VERSION),
  command: Schema.Literal("submit"),
  /** The envelope file's bytes, base64: the daemon verifies exactly these bytes. */
  envelope: Schema.String,
  safetySnapshot: Schema.Boolean
})

export const SelftestRequest = Schema.Struct({
  v: Schema.Literal(PROTOCOL_VERSION),
  command: Schema.Literal("selftest"),
  vmid: Schema.Int,
  task: Schema.Literal("permissions", "snapshot", "config", "all"),
  confirm: Schema.Boolean
})

/** The daemon's own view (`felhom-agent status`); answered also while start-up recovery runs. */
export const StatusRequest = Schema.Struct({
  v: Schema.Literal(PROTOCOL_VERSION),
  command: Schema.Literal("status")
})

export const ControlRequest = Schema.Union(ApplyRequest, RevertRequest, SubmitRequest, SelftestRequest, StatusRequest)
export type ControlRequest = typeof ControlRequest.Type

export const Accepted = Schema.Struct({
  type: Schema.Literal("accepted"),
  pid: Schema.Int,
  /** False while the daemon's start-up recovery runs: the request waits for it. */
  ready: Schema.Boolean
})

export const Output = Schema.Struct({
  type: Schema.Literal("output"),
  exitCode: Schema.Int,
  text: Schema.String,
  json: Schema.Unknown,
  /** When the command failed, its one error line. */
  error: Schema.optional(Schema.String)
})

export const Failure = Schema.Struct({
  type: Schema.Literal("error"),
  /** The typed error's tag, e.g. RevertRefused, SignatureInvalid, DesiredInvalid. */
  tag: Schema.String,
  message: Schema.String
})

export const ControlReply = Schema.Union(Accepted, Output, Failure)
export type ControlReply = typeof ControlReply.Type

export const decodeRequest = Schema.decodeUnknownEither(Schema.parseJson(ControlRequest))
export const decodeReply = Schema.decodeUnknownEither(Schema.parseJson(ControlReply))
