/**
 * What the engine runs. A plan asks for Start, Stop or SetConfig on a guest present on both
 * sides (docs/architecture.md, invariant 3); signed ops may also ask for a hard stop, a shutdown with their
 * own timeout/forceStop, and snapshot create/rollback/delete (OpPayload.ts). Schemas, because every action is journaled before it runs
 * (invariant 5); its op id is deterministic so a re-planned identical action is recognised as
 * already applied instead of being run twice.
 */
import { Schema } from "effect"
import { createHash } from "node:crypto"
import { GuestRef } from "./Guest.js"
import { ConfigValue } from "./GuestConfig.js"

export const Start = Schema.TaggedStruct("Start", { guest: GuestRef })
export type Start = typeof Start.Type

/**
 * Stop = PVE `shutdown` with `timeout: shutdownTimeout` and `forceStop: 1`: a graceful
 * shutdown (guest agent or ACPI) first, then a hard stop when the guest does not go down in
 * time, all inside one PVE task (qemu-server `PVE::API2::Qemu::vm_shutdown`). A plain `stop`
 * would pull the plug on a guest that could have shut down cleanly; a shutdown without
 * forceStop can leave a hung guest running forever ("VM quit/powerdown failed - got timeout")
 * and never converge.
 */
export const Stop = Schema.TaggedStruct("Stop", {
  guest: GuestRef,
  /** Seconds the guest gets to shut down before it is stopped hard. */
  shutdownTimeout: Schema.Int.pipe(Schema.positive())
})
export type Stop = typeof Stop.Type

/**
 * A config write carrying only the keys that differ after normalization plus the digest it was
 * planned against, so PVE refuses it if the guest changed in between (pve-common
 * `PVE::Tools::assert_if_modified`, called from qemu-server `PVE::API2::Qemu` `$update_vm_api`
 * and pve-container `PVE::API2::LXC::Config::update_vm`). An
 * empty digest (a signed op without a precondition) means "the digest the engine reads with
 * the pre-state": the write is still guarded, so the journaled inverse is exact.
 */
export const SetConfig = Schema.TaggedStruct("SetConfig", {
  guest: GuestRef,
  set: Schema.Record({ key: Schema.String, value: ConfigValue }),
  delete: Schema.Array(Schema.String),
  digest: Schema.String
})
export type SetConfig = typeof SetConfig.Type

/** PVE `stop`: pulls the plug at once (signed ops only; the planner always shuts down). */
export const HardStop = Schema.TaggedStruct("HardStop", { guest: GuestRef })
export type HardStop = typeof HardStop.Type

/** PVE `shutdown` as a signed op asks for it: its own timeout, forceStop only when asked. */
export const Shutdown = Schema.TaggedStruct("Shutdown", {
  guest: GuestRef,
  timeout: Schema.optional(Schema.Int.pipe(Schema.positive())),
  forceStop: Schema.Boolean
})
export type Shutdown = typeof Shutdown.Type

export const SnapshotCreate = Schema.TaggedStruct("SnapshotCreate", {
  guest: GuestRef,
  name: Schema.String,
  description: Schema.optional(Schema.String),
  vmstate: Schema.optional(Schema.Boolean)
})
export type SnapshotCreate = typeof SnapshotCreate.Type

/** Loses every change since the snapshot: irreversible unless a safety snapshot is taken first. */
export const SnapshotRollback = Schema.TaggedStruct("SnapshotRollback", {
  guest: GuestRef,
  name: Schema.String,
  start: Schema.optional(Schema.Boolean)
})
export type SnapshotRollback = typeof SnapshotRollback.Type

export const SnapshotDelete = Schema.TaggedStruct("SnapshotDelete", {
  guest: GuestRef,
  name: Schema.String,
  force: Schema.optional(Schema.Boolean)
})
export type SnapshotDelete = typeof SnapshotDelete.Type

export const Action = Schema.Union(
  Start,
  Stop,
  SetConfig,
  HardStop,
  Shutdown,
  SnapshotCreate,
  SnapshotRollback,
  SnapshotDelete
)
export type Action = typeof Action.Type
export type ActionTag = Action["_tag"]

/** The action-specific parameters (everything but the guest), as hashed into the op id. */
export const actionParams = (action: Action): Readonly<Record<string, unknown>> => {
  switch (action._tag) {
    case "Start":
      return {}
    case "Stop":
      return { shutdownTimeout: action.shutdownTimeout }
    case "SetConfig":
      return { set: action.set, delete: [...action.delete].sort(), digest: action.digest }
    case "HardStop":
      return {}
    case "Shutdown":
      return { timeout: action.timeout, forceStop: action.forceStop }
    case "SnapshotCreate":
      return { name: action.name, description: action.description, vmstate: action.vmstate }
    case "SnapshotRollback":
      return { name: action.name, start: action.start }
    case "SnapshotDelete":
      return { name: action.name, force: action.force }
  }
}

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [k: string]: Json }

const toJson = (u: unknown): Json => {
  if (u === null || u === undefined) return null
  if (typeof u === "string" || typeof u === "boolean") return u
  if (typeof u === "number") return Number.isFinite(u) ? u : null
  if (Array.isArray(u)) return u.map(toJson)
  if (typeof u === "object") {
    const out: Record<string, Json> = {}
    for (const [k, v] of Object.entries(u)) if (v !== undefined) out[k] = toJson(v)
    return out
  }
  return String(u)
}

/**
 * Canonical JSON: object keys sorted by code unit, no whitespace, numbers in JavaScript's
 * shortest form. For our values (strings, finite numbers, arrays, plain objects) this matches
 * RFC 8785, so the same action always hashes to the same bytes.
 */
export const canonicalJson = (u: unknown): string => {
  const j = toJson(u)
  if (j === null || typeof j !== "object") return JSON.stringify(j)
  if (Array.isArray(j)) return `[${j.map(canonicalJson).join(",")}]`
  const keys = Object.keys(j).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((j as Record<string, Json>)[k])}`).join(",")}}`
}

/**
 * Deterministic op id of a planned action: sha256 hex over canonical JSON of vmid, action tag,
 * params and desired revision (docs/architecture.md, invariant 5). The node is left out on purpose: a
 * guest is identified by vmid wherever it lives (invariant 3), so a migration does not turn
 * an applied action into a new one.
 */
export const plannedOpId = (action: Action, revision: string | undefined): string =>
  createHash("sha256")
    .update(
      canonicalJson({
        vmid: action.guest.vmid,
        action: action._tag,
        params: actionParams(action),
        revision: revision ?? null
      }),
      "utf8"
    )
    .digest("hex")
