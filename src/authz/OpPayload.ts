/**
 * What a signed op says (payload type `application/vnd.felhom.op+json;version=1`): who issued
 * it, which agent and guest it is for, when it is valid, its place in the per-agent sequence,
 * and one action. Decoded strictly (unknown fields refused, every issue reported) from exactly
 * the bytes whose signature verified, so the agent and the signer cannot read two different ops
 * out of one envelope.
 */
import { Schema } from "effect"
import { configKeyIssue, valueIssue } from "../domain/DesiredState.js"
import { Vmid } from "../domain/Vmid.js"

export const OP_PAYLOAD_TYPE = "application/vnd.felhom.op+json;version=1"

/** Names that end up in logs, journal rows and SQL parameters: a safe, bounded charset. */
const SafeId = (what: string, max: number) =>
  Schema.String.pipe(
    Schema.pattern(new RegExp(`^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,${max - 1}}$`), {
      message: () => `${what} must be 1..${max} characters of [A-Za-z0-9._:@/+-], starting alphanumeric`
    })
  )

export const OpId = SafeId("op_id", 128)
export const AgentId = SafeId("agent id", 128)

/** Epoch seconds; the upper bound keeps arithmetic with skews exact (safe integers). */
const EpochSeconds = Schema.Int.pipe(Schema.between(0, 2 ** 40, {
  message: () => "must be an integer epoch time in seconds"
}))

/** PVE config keys (`net0`, `description`, `hookscript`…): lower-case identifiers. */
const ConfigKey = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9_-]{0,63}$/, { message: () => "config key must match ^[a-z][a-z0-9_-]{0,63}$" })
)
const ConfigValue = Schema.Union(Schema.String.pipe(Schema.maxLength(65_536)), Schema.Number)

/** PVE's snapshot name (pve-common `PVE::JSONSchema` `pve-snapshot-name`: `pve-configid`-like, max 40). */
const SnapshotName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z][A-Za-z0-9_-]{1,39}$/, {
    message: () => "snapshot name must match ^[A-Za-z][A-Za-z0-9_-]{1,39}$"
  })
)

export const StartAction = Schema.Struct({ kind: Schema.Literal("start") })
export const StopAction = Schema.Struct({ kind: Schema.Literal("stop") })
export const ShutdownAction = Schema.Struct({
  kind: Schema.Literal("shutdown"),
  /** Seconds to wait for the guest before giving up (or stopping it hard with forceStop). */
  timeout: Schema.optional(Schema.Int.pipe(Schema.between(1, 86_400))),
  forceStop: Schema.optional(Schema.Boolean)
})

export const SetConfigAction = Schema.Struct({
  kind: Schema.Literal("set-config"),
  set: Schema.Record({ key: ConfigKey, value: ConfigValue }),
  delete: Schema.Array(ConfigKey).pipe(Schema.maxItems(256))
}).pipe(
  // A key both set and deleted has no single meaning; an empty change is not an op. Keys PVE
  // sets itself (lock, digest…) are never written, and values follow the desired document's
  // rules (no control characters but newlines and tabs in a description).
  Schema.filter((a) => {
    const setKeys = Object.keys(a.set)
    if (setKeys.length === 0 && a.delete.length === 0) return "set-config must set or delete at least one key"
    const both = a.delete.filter((k) => setKeys.includes(k))
    if (both.length > 0) return `keys both set and deleted: ${both.join(", ")}`
    const bad = [...setKeys, ...a.delete].map((k) => configKeyIssue(k)).find((m) => m !== undefined) ??
      Object.entries(a.set).map(([k, v]) => (valueIssue(k, v) === undefined ? undefined : `${k}: ${valueIssue(k, v)}`))
        .find((m) => m !== undefined)
    return bad === undefined || bad
  })
)

export const SnapshotCreateAction = Schema.Struct({
  kind: Schema.Literal("snapshot-create"),
  name: SnapshotName,
  description: Schema.optional(Schema.String.pipe(Schema.maxLength(8_192))),
  vmstate: Schema.optional(Schema.Boolean)
})
export const SnapshotRollbackAction = Schema.Struct({
  kind: Schema.Literal("snapshot-rollback"),
  name: SnapshotName,
  /** Start the guest after the rollback (PVE `start`). */
  start: Schema.optional(Schema.Boolean)
})
export const SnapshotDeleteAction = Schema.Struct({
  kind: Schema.Literal("snapshot-delete"),
  name: SnapshotName,
  force: Schema.optional(Schema.Boolean)
})

export const OpAction = Schema.Union(
  StartAction,
  StopAction,
  ShutdownAction,
  SetConfigAction,
  SnapshotCreateAction,
  SnapshotRollbackAction,
  SnapshotDeleteAction
)
export type OpAction = typeof OpAction.Type
export type OpActionKind = OpAction["kind"]

export { OP_ACTION_KINDS } from "./opActionKinds.js"

export const OpPayload = Schema.Struct({
  op_id: OpId,
  iss: SafeId("iss", 256),
  aud: AgentId,
  target: Schema.Struct({ vmid: Vmid }),
  iat: EpochSeconds,
  nbf: Schema.optional(EpochSeconds),
  exp: EpochSeconds,
  seq: Schema.Int.pipe(Schema.between(1, Number.MAX_SAFE_INTEGER, {
    message: () => "seq must be a positive integer"
  })),
  action: OpAction,
  precondition: Schema.optional(Schema.Struct({
    /** PVE's config digest (sha1 hex today); the write is refused if the guest changed since. */
    digest: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{40,64}$/, {
      message: () => "digest must be 40..64 lower-case hex characters"
    }))
  }))
}).pipe(
  // A window that ends before it starts is not a time question but a malformed op.
  Schema.filter((p) => {
    if (p.exp <= p.iat) return { path: ["exp"], message: "exp must be after iat" }
    if (p.nbf !== undefined && p.nbf >= p.exp) return { path: ["nbf"], message: "nbf must be before exp" }
    return true
  })
)
export type OpPayload = typeof OpPayload.Type

/** Strict decode: every issue at once (so an operator fixes them in one go), unknown fields refused. */
export const decodeOpPayload = Schema.decodeUnknownEither(OpPayload, { errors: "all", onExcessProperty: "error" })

/**
 * The JSON bytes of a payload, as `op sign` and tests produce them. The schema has no
 * transformations (its Type is its Encoded form), so plain JSON is the encoding; it does not
 * validate: `op sign` decodes first, and tests sign invalid payloads on purpose.
 */
export const encodeOpPayload = (payload: OpPayload): Uint8Array => new TextEncoder().encode(JSON.stringify(payload))
