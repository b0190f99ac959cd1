/**
 * What the journal stores about one op (docs/architecture.md, invariant 5): the intent a caller writes
 * before the PVE call, and the record the journal keeps. Pure schemas plus the params hash,
 * a sha256 over canonical JSON (keys sorted at every depth) so that two encodings of the
 * same params always hash alike and reusing an op id with other params is detected.
 */
import { Schema } from "effect"
import { createHash } from "node:crypto"
import { GuestType, NodeName } from "../domain/Guest.js"
import { UpidString } from "../domain/Upid.js"
import { Vmid } from "../domain/Vmid.js"

export type JsonValue =
  | null
  | boolean
  | number
  | string
  | ReadonlyArray<JsonValue>
  | { readonly [key: string]: JsonValue }

const suspendJson = Schema.suspend((): Schema.Schema<JsonValue> => JsonValue)

/** Any JSON value; NaN and ±Infinity are refused because JSON cannot carry them. */
export const JsonValue: Schema.Schema<JsonValue> = Schema.Union(
  Schema.Null,
  Schema.Boolean,
  Schema.Finite,
  Schema.String,
  Schema.Array(suspendJson),
  Schema.Record({ key: Schema.String, value: suspendJson })
)

const isArray = (value: JsonValue): value is ReadonlyArray<JsonValue> => Array.isArray(value)

/** JSON with object keys sorted by UTF-16 code unit at every depth (the RFC 8785 key order). */
export const canonicalJson = (value: JsonValue): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value)
  if (isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  const members: Array<string> = []
  for (const key of Object.keys(value).sort()) {
    const member = value[key]
    if (member !== undefined) members.push(`${JSON.stringify(key)}:${canonicalJson(member)}`)
  }
  return `{${members.join(",")}}`
}

/** Lowercase hex sha256 of the canonical JSON of `params`. */
export const paramsHash = (params: JsonValue): string =>
  createHash("sha256").update(canonicalJson(params), "utf8").digest("hex")

export const OpOrigin = Schema.Literal("planned", "signed")
export type OpOrigin = typeof OpOrigin.Type

export const OpPhase = Schema.Literal("intent", "in-flight", "done", "failed", "needs-operator")
export type OpPhase = typeof OpPhase.Type

export const TERMINAL_PHASES: ReadonlyArray<OpPhase> = ["done", "failed", "needs-operator"]
export const UNFINISHED_PHASES: ReadonlyArray<OpPhase> = ["intent", "in-flight"]

export const OpId = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(200),
  Schema.pattern(/^[\x21-\x7e]+$/, { message: () => "op id must be printable ASCII without spaces" })
)

/**
 * The API token's name, `user@realm!tokenid` (or a plain `user@realm`), as PVE puts it in a
 * UPID. The secret travels as `…!tokenid=<uuid>` in the Authorization header, so any `=` (or
 * other character PVE never allows in a user or token id) is refused. The message never
 * echoes the value: it might be the secret (docs/architecture.md, invariant 8).
 */
export const TokenUser = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+(![A-Za-z][A-Za-z0-9._-]*)?$/, {
    message: () => "token user must be user@realm!tokenid without the secret (value not shown)"
  }),
  Schema.brand("TokenUser")
)
export type TokenUser = typeof TokenUser.Type

export const ActionName = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9-]{0,63}$/, { message: () => "action must be a lowercase name such as set-config" })
)

/** Why an op ended (or was flagged): PVE's exit status, or a typed error's tag and message. */
export const OpDetail = Schema.Struct({
  message: Schema.String,
  exitstatus: Schema.optional(Schema.String),
  errorTag: Schema.optional(Schema.String),
  upids: Schema.optional(Schema.Array(Schema.String))
})
export type OpDetail = typeof OpDetail.Type

/** What the caller journals before the PVE call. */
export const OpIntent = Schema.Struct({
  opId: OpId,
  origin: OpOrigin,
  vmid: Vmid,
  node: NodeName,
  guestType: GuestType,
  action: ActionName,
  params: JsonValue,
  /** The guest as observed when the op was planned (normalized config, power state…). */
  preState: JsonValue,
  /** PVE's config digest read with the pre-state, if any. */
  preDigest: Schema.NullOr(Schema.String),
  /** How to undo the op (the Gate's inverse); null when there is none. */
  inverse: Schema.NullOr(JsonValue),
  tokenUser: TokenUser
})
export type OpIntent = typeof OpIntent.Type
/** The intent as callers hand it over: plain values, validated by `Journal.intent`. */
export type OpIntentInput = typeof OpIntent.Encoded

export const OpRecord = Schema.Struct({
  ...OpIntent.fields,
  paramsHash: Schema.String,
  /** Epoch milliseconds of the (latest) intent; the task-list search starts here. */
  intentAt: Schema.Number,
  updatedAt: Schema.Number,
  /** 1, then +1 each time a failed op id is planned again. */
  attempt: Schema.Int,
  phase: OpPhase,
  upid: Schema.NullOr(UpidString),
  detail: Schema.NullOr(OpDetail)
})
export type OpRecord = typeof OpRecord.Type

export const PhaseEntry = Schema.Struct({
  opId: Schema.String,
  phase: OpPhase,
  at: Schema.Number,
  upid: Schema.NullOr(UpidString),
  detail: Schema.NullOr(OpDetail)
})
export type PhaseEntry = typeof PhaseEntry.Type

const NullableJson = <S extends Schema.Schema.Any>(schema: S) => Schema.NullOr(Schema.parseJson(schema))

/** A `journal_ops` row as SQLite returns it; JSON columns are decoded, nothing is trusted. */
const OpRow = Schema.Struct({
  op_id: Schema.String,
  origin: OpOrigin,
  vmid: Schema.Number,
  node: Schema.String,
  guest_type: GuestType,
  action: Schema.String,
  params: Schema.parseJson(JsonValue),
  params_hash: Schema.String,
  pre_state: Schema.parseJson(JsonValue),
  pre_digest: Schema.NullOr(Schema.String),
  inverse: NullableJson(JsonValue),
  token_user: Schema.String,
  intent_at: Schema.Number,
  updated_at: Schema.Number,
  attempt: Schema.Number,
  phase: OpPhase,
  upid: Schema.NullOr(Schema.String),
  detail: NullableJson(OpDetail)
})

export const OpRecordFromRow = Schema.transform(OpRow, Schema.encodedSchema(OpRecord), {
  strict: true,
  decode: (r) => ({
    opId: r.op_id,
    origin: r.origin,
    vmid: r.vmid,
    node: r.node,
    guestType: r.guest_type,
    action: r.action,
    params: r.params,
    paramsHash: r.params_hash,
    preState: r.pre_state,
    preDigest: r.pre_digest,
    inverse: r.inverse,
    tokenUser: r.token_user,
    intentAt: r.intent_at,
    updatedAt: r.updated_at,
    attempt: r.attempt,
    phase: r.phase,
    upid: r.upid,
    detail: r.detail
  }),
  encode: (o) => ({
    op_id: o.opId,
    origin: o.origin,
    vmid: o.vmid,
    node: o.node,
    guest_type: o.guestType,
    action: o.action,
    params: o.params,
    params_hash: o.paramsHash,
    pre_state: o.preState,
    pre_digest: o.preDigest,
    inverse: o.inverse,
    token_user: o.tokenUser,
    intent_at: o.intentAt,
    updated_at: o.updatedAt,
    attempt: o.attempt,
    phase: o.phase,
    upid: o.upid,
    detail: o.detail
  })
}).pipe(Schema.compose(OpRecord))

const PhaseRow = Schema.Struct({
  op_id: Schema.String,
  phase: OpPhase,
  at: Schema.Number,
  upid: Schema.NullOr(Schema.String),
  detail: NullableJson(OpDetail)
})

export const PhaseEntryFromRow = Schema.transform(PhaseRow, Schema.encodedSchema(PhaseEntry), {
  strict: true,
  decode: (r) => ({ opId: r.op_id, phase: r.phase, at: r.at, upid: r.upid, detail: r.detail }),
  encode: (e) => ({ op_id: e.opId, phase: e.phase, at: e.at, upid: e.upid, detail: e.detail })
}).pipe(Schema.compose(PhaseEntry))
