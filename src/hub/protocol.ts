/**
 * Hub protocol v1 as data (docs/hub-protocol.md): the signed desired payload, the ops list and
 * the report body. Everything the hub sends is decoded with these schemas (unknown fields
 * refused where the bytes are signed, ignored in unsigned transport wrappers so a v1.x hub can
 * add fields); the report is encoded with them, so what we send is what the document says.
 */
import { Schema } from "effect"
import { AgentId } from "../authz/OpPayload.js"

export const DESIRED_PAYLOAD_TYPE = "application/vnd.felhom.desired+json;version=1"

/** Bound on a desired envelope: a document for a whole host, with headroom; beyond it is a DoS. */
export const MAX_DESIRED_BYTES = 4 * 1024 * 1024
/** Bound on an ops answer: at most MAX_OPS_PER_FETCH envelopes of 64 KiB each. */
export const MAX_OPS_PER_FETCH = 256
export const MAX_OPS_BYTES = 16 * 1024 * 1024

const EpochSeconds = Schema.Int.pipe(Schema.between(0, 2 ** 40, {
  message: () => "must be an integer epoch time in seconds"
}))

/** A revision ends up in op ids, logs and SQL parameters: a safe, bounded charset. */
export const Revision = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}$/, {
    message: () => "revision must be 1..128 characters of [A-Za-z0-9._:@/+-], starting alphanumeric"
  })
)

/**
 * The signed desired payload. `agent` binds the audience inside the signature (a document for
 * one agent can never be replayed to another); `issued_at` orders documents (a stale one is a
 * rollback); `expires_at` bounds how long a fetched document may be accepted. `document` is
 * decoded separately by decodeDesiredState so that every bad path is named.
 */
export const DesiredPayload = Schema.Struct({
  agent: AgentId,
  revision: Revision,
  issued_at: EpochSeconds,
  expires_at: Schema.optionalWith(EpochSeconds, { exact: true }),
  document: Schema.Unknown
})
export type DesiredPayload = typeof DesiredPayload.Type

export const decodeDesiredPayload = Schema.decodeUnknownEither(DesiredPayload, {
  errors: "all",
  onExcessProperty: "error"
})

/** The unsigned wrapper of GET …/ops: each element is checked later, by SignedOps. */
export const OpsResponse = Schema.Struct({
  ops: Schema.Array(Schema.Unknown).pipe(Schema.maxItems(MAX_OPS_PER_FETCH))
})
export type OpsResponse = typeof OpsResponse.Type

/** The one-line answer body a hub sends with a 4xx/5xx (optional; shown shortened). */
export const HubErrorBody = Schema.Struct({ error: Schema.String })

/** What became of one op the hub sent (built by the onOp handler the daemon plugs in). */
export const OpOutcomeSummary = Schema.Struct({
  /** From the verified payload; absent when the envelope did not verify far enough to know it. */
  op_id: Schema.optionalWith(Schema.String, { exact: true }),
  seq: Schema.optionalWith(Schema.Int, { exact: true }),
  /**
   * `deferred`: not decided (a transient storage error before admission); the loop does not
   * move its cursor past it, so it is fetched and offered again.
   */
  result: Schema.Literal("applied", "already-applied", "refused", "failed", "skipped", "conflict", "deferred"),
  /** The typed error's tag (`WrongAudience`, `PveGuestLocked`…) when not a success. */
  error_tag: Schema.optionalWith(Schema.String, { exact: true }),
  message: Schema.String
})
export type OpOutcomeSummary = typeof OpOutcomeSummary.Type

/** Plain integers, not the branded Vmid: the report is built from many sources and only sent. */
const Vmid = Schema.Int

export const ObservedGuest = Schema.Struct({
  vmid: Vmid,
  node: Schema.String,
  type: Schema.Literal("qemu", "lxc"),
  status: Schema.String,
  name: Schema.optionalWith(Schema.String, { exact: true })
})

export const PlannedAction = Schema.Struct({
  vmid: Vmid,
  kind: Schema.String,
  summary: Schema.String
})

export const Refusal = Schema.Struct({
  /** The typed error's tag: `SignatureInvalid`, `DesiredExpired`, `DesiredStateInvalid`… */
  tag: Schema.String,
  message: Schema.String,
  /** Epoch milliseconds. */
  at: Schema.Number
})
export type Refusal = typeof Refusal.Type

/**
 * Which guests the reporting agent owns: those on `node` (node scope, one agent per node), or
 * every guest (cluster scope, `node` null). The hub sends a signed op to the agent of the
 * guest's node; another agent refuses it.
 */
export const ReportScope = Schema.Struct({
  mode: Schema.Literal("node", "cluster"),
  node: Schema.NullOr(Schema.String)
})

/** The part of a report the daemon (reconciler) supplies; the loop adds the rest. */
export const ReportInput = Schema.Struct({
  /** Absent until the agent knows its node (before its first pass). */
  scope: Schema.optionalWith(ReportScope, { exact: true }),
  observed: Schema.Struct({
    guests: Schema.Array(ObservedGuest).pipe(Schema.maxItems(100_000)),
    /** Why observation failed (PVE unreachable…), when it did. */
    error: Schema.optionalWith(Schema.String, { exact: true })
  }),
  drift: Schema.Struct({
    actions: Schema.Int,
    planned: Schema.Array(PlannedAction).pipe(Schema.maxItems(10_000))
  }),
  restart_required: Schema.Array(Vmid).pipe(Schema.maxItems(100_000)),
  refusals: Schema.Array(Refusal).pipe(Schema.maxItems(1_000))
})
export type ReportInput = typeof ReportInput.Type

export const Report = Schema.Struct({
  version: Schema.Literal(1),
  agent: AgentId,
  /** ISO 8601, from the Effect clock. */
  time: Schema.String,
  desired: Schema.Struct({
    revision: Schema.NullOr(Schema.String),
    /** hub: accepted from the hub in this process; stored: last good from the state db; none. */
    source: Schema.Literal("hub", "stored", "none")
  }),
  ...ReportInput.fields,
  /** Outcomes of hub ops since the last report the hub accepted, in seq order. */
  ops: Schema.Array(OpOutcomeSummary),
  /** How many outcomes were dropped because the hub was away too long (buffer bound). */
  ops_dropped: Schema.Int
})
export type Report = typeof Report.Type

export const emptyReportInput: ReportInput = {
  observed: { guests: [] },
  drift: { actions: 0, planned: [] },
  restart_required: [],
  refusals: []
}
