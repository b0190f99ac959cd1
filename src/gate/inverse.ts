/**
 * Inverses (docs/architecture.md, invariants 5 and 9): how to undo an action, computed from the pre-state
 * the engine read inside the guest's queue job — nothing else can write between that read and
 * the call, and a config write is guarded by the digest of that very read, so the inverse is
 * exact. Pure: the journal stores the result as JSON and `revert` decodes it back.
 *
 *   SetConfig        → previous values of keys that existed, delete of keys that were absent
 *   Start / Stop …   → back to the observed power state (Start ↔ Stop = shutdown + forceStop)
 *   SnapshotCreate   → SnapshotDelete of that name
 *   SnapshotRollback → irreversible (null), or a rollback to the safety snapshot taken first
 *   SnapshotDelete   → irreversible (null)
 */
import { Either, Schema } from "effect"
import { createHash } from "node:crypto"
import type { Action } from "../domain/Action.js"
import { ConfigValue, type GuestConfig } from "../domain/GuestConfig.js"
import type { JsonValue } from "../state/OpRecord.js"

/** What the engine read, fresh, inside the guest's queue job before the call. */
export interface PreState {
  readonly status: "running" | "stopped"
  readonly config: GuestConfig
  /** Snapshot names; read only for snapshot actions. */
  readonly snapshots?: ReadonlyArray<string>
}

const PowerInverse = Schema.Struct({
  kind: Schema.Literal("power"),
  status: Schema.Literal("running", "stopped"),
  /** For "stopped": the graceful shutdown's timeout before the hard stop. */
  shutdownTimeout: Schema.Int
})

const ConfigInverse = Schema.Struct({
  kind: Schema.Literal("set-config"),
  set: Schema.Record({ key: Schema.String, value: ConfigValue }),
  delete: Schema.Array(Schema.String),
  /**
   * The op's intended post-state of every key it touched (null = absent). `revert` refuses
   * when the guest no longer shows it: someone changed those keys since, and undoing our op
   * would clobber their change.
   */
  expect: Schema.Record({ key: Schema.String, value: Schema.NullOr(ConfigValue) })
})

const SnapshotDeleteInverse = Schema.Struct({ kind: Schema.Literal("snapshot-delete"), name: Schema.String })
const SnapshotRollbackInverse = Schema.Struct({ kind: Schema.Literal("snapshot-rollback"), name: Schema.String })

export const Inverse = Schema.Union(PowerInverse, ConfigInverse, SnapshotDeleteInverse, SnapshotRollbackInverse)
export type Inverse = typeof Inverse.Type

export const decodeInverse = Schema.decodeUnknownEither(Inverse)

export const inverseToJson = (inverse: Inverse): JsonValue => {
  const encoded = Schema.encodeEither(Inverse)(inverse)
  // The schema has no transformations: its encoded form is itself, plain JSON.
  return Either.isRight(encoded) ? (encoded.right as JsonValue) : null
}

/** Whether an action can be undone at all (rollback only through a safety snapshot). */
export const isReversible = (action: Action): boolean =>
  action._tag !== "SnapshotRollback" && action._tag !== "SnapshotDelete"

/** The keys a config write touches, sorted. */
export const configKeysOf = (action: Action): ReadonlyArray<string> =>
  action._tag === "SetConfig" ? [...new Set([...Object.keys(action.set), ...action.delete])].sort() : []

/** Default seconds a reverting Stop gives the guest before the hard stop (PVE's own default). */
export const DEFAULT_REVERT_SHUTDOWN_TIMEOUT = 60

/**
 * The name of the safety snapshot taken before a rollback: deterministic per op id, so a
 * resumed op finds its own snapshot, and within PVE's snapshot-name rules (pve-common
 * `PVE::JSONSchema` `pve-snapshot-name`: at most 40 characters).
 */
export const safetySnapshotName = (opId: string): string =>
  `felhom-safety-${createHash("sha256").update(opId, "utf8").digest("hex").slice(0, 12)}`

const configInverse = (
  set: Readonly<Record<string, ConfigValue>>,
  deleted: ReadonlyArray<string>,
  pre: PreState
): Inverse => {
  const before = pre.config.values
  const undoSet: Record<string, ConfigValue> = {}
  const undoDelete: Array<string> = []
  const expect: Record<string, ConfigValue | null> = {}
  for (const key of [...Object.keys(set), ...deleted]) {
    const previous = Object.hasOwn(before, key) ? before[key] : undefined
    if (previous !== undefined) undoSet[key] = previous
    // A deleted key that was already absent needs no undo: it is absent before and after.
    else if (Object.hasOwn(set, key)) undoDelete.push(key)
    expect[key] = Object.hasOwn(set, key) ? set[key] ?? null : null
  }
  return { kind: "set-config", set: undoSet, delete: undoDelete.sort(), expect }
}

/**
 * The inverse of `action` given the pre-state, or null when there is none. `safety` is the
 * name of the snapshot taken before a rollback (only when the policy asks for one).
 */
export const inverseOf = (action: Action, pre: PreState, safety?: string): Inverse | null => {
  const power = (shutdownTimeout: number): Inverse => ({ kind: "power", status: pre.status, shutdownTimeout })
  switch (action._tag) {
    case "Start":
    case "HardStop":
      return power(DEFAULT_REVERT_SHUTDOWN_TIMEOUT)
    case "Stop":
      return power(action.shutdownTimeout)
    case "Shutdown":
      return power(action.timeout ?? DEFAULT_REVERT_SHUTDOWN_TIMEOUT)
    case "SetConfig":
      return configInverse(action.set, action.delete, pre)
    case "SnapshotCreate":
      return { kind: "snapshot-delete", name: action.name }
    case "SnapshotRollback":
      return safety === undefined ? null : { kind: "snapshot-rollback", name: safety }
    case "SnapshotDelete":
      return null
  }
}
