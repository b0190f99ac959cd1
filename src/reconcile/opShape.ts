/**
 * How a plan action is written into the journal and how its intended post-state is checked.
 * One place for both, so an op journaled by one run is understood by the next one (and by
 * start-up recovery, which only has the journal record): action names match TaskTypes
 * (`start`, `stop`, `shutdown`, `set-config`, `snapshot-*`), params are plain JSON. Also the
 * pre-state read and the one PVE call of each action.
 */
import { Data, Effect, Either, Option, Schema } from "effect"
import type { Action } from "../domain/Action.js"
import { GuestRef } from "../domain/Guest.js"
import { ConfigValue } from "../domain/GuestConfig.js"
import type { PreState } from "../gate/inverse.js"
import { type MutationResult, Pve } from "../pve/Pve.js"
import type { PveError } from "../pve/PveError.js"
import type { JsonValue, OpRecord } from "../state/OpRecord.js"
import { isEqual } from "./normalize.js"

/** The journal's action name, matching TaskTypes; the planner's Stop is PVE's `shutdown` (Action.ts). */
export const journalAction = (action: Action): string => {
  switch (action._tag) {
    case "Start":
      return "start"
    case "Stop":
    case "Shutdown":
      return "shutdown"
    case "HardStop":
      return "stop"
    case "SetConfig":
      return "set-config"
    case "SnapshotCreate":
      return "snapshot-create"
    case "SnapshotRollback":
      return "snapshot-rollback"
    case "SnapshotDelete":
      return "snapshot-delete"
  }
}

/** JSON cannot carry `undefined`: optional params are left out when absent. */
const present = (entries: Record<string, JsonValue | undefined>): JsonValue => {
  const out: Record<string, JsonValue> = {}
  for (const [k, v] of Object.entries(entries)) if (v !== undefined) out[k] = v
  return out
}

/**
 * Params as journaled (and hashed). qemu SetConfig is POSTed, so PVE answers a `qmconfig`
 * task; `mode` tells recovery to search the task list for it (TaskTypes.ts).
 */
export const journalParams = (action: Action): JsonValue => {
  switch (action._tag) {
    case "Start":
    case "HardStop":
      return {}
    case "Stop":
      return { timeout: action.shutdownTimeout, forceStop: true }
    case "Shutdown":
      return present({ timeout: action.timeout, forceStop: action.forceStop })
    case "SetConfig":
      return {
        set: { ...action.set },
        delete: [...action.delete].sort(),
        digest: action.digest,
        ...(action.guest.type === "qemu" ? { mode: "async" } : {})
      }
    case "SnapshotCreate":
      return present({ name: action.name, description: action.description, vmstate: action.vmstate })
    case "SnapshotRollback":
      return present({ name: action.name, start: action.start })
    case "SnapshotDelete":
      return present({ name: action.name, force: action.force })
  }
}

const isSnapshotAction = (action: Action): boolean =>
  action._tag === "SnapshotCreate" || action._tag === "SnapshotRollback" || action._tag === "SnapshotDelete"

/** The values the action is about, from the fresh pre-state: power state, written keys, snapshots. */
export const preStateOf = (action: Action, pre: PreState): JsonValue => {
  if (action._tag === "SetConfig") {
    const values = pre.config.values
    const keys = [...Object.keys(action.set), ...action.delete].sort()
    return {
      status: pre.status,
      config: Object.fromEntries(keys.map((k) => [k, Object.hasOwn(values, k) ? values[k] ?? null : null]))
    }
  }
  if (isSnapshotAction(action)) return { status: pre.status, snapshots: [...(pre.snapshots ?? [])] }
  return { status: pre.status }
}

/**
 * Reads the pre-state inside the guest's queue job: status and config (pending merged) always,
 * the snapshot list for snapshot actions. One read each; the caller retries.
 */
export const readPreState = (action: Action): Effect.Effect<PreState, PveError, Pve> =>
  Effect.gen(function*() {
    const pve = yield* Pve
    const { config, status } = yield* Effect.all(
      { status: pve.status(action.guest), config: pve.config(action.guest) },
      { concurrency: "unbounded" }
    )
    if (!isSnapshotAction(action)) return { status: status.status, config }
    const snapshots = yield* pve.snapshots(action.guest)
    return { status: status.status, config, snapshots: snapshots.map((s) => s.name) }
  })

/**
 * Nothing to send: a power action whose target state the guest already shows, or a config
 * write with no keys (the inverse of deleting keys that were absent). PVE would refuse both.
 */
export const nothingToSend = (action: Action, pre: PreState): boolean => {
  switch (action._tag) {
    case "SetConfig":
      return Object.keys(action.set).length === 0 && action.delete.length === 0
    case "Start":
      return pre.status === "running"
    case "Stop":
    case "HardStop":
    case "Shutdown":
      return pre.status === "stopped"
    default:
      return false
  }
}

/** The one PVE mutation an action is (qemu-server `PVE::API2::Qemu`, pve-container `PVE::API2::LXC`). */
export const callPve = (action: Action): Effect.Effect<MutationResult, PveError, Pve> =>
  Effect.flatMap(Pve, (pve) => {
    switch (action._tag) {
      case "Start":
        return pve.power(action.guest, "start")
      case "Stop":
        return pve.power(action.guest, "shutdown", { timeout: action.shutdownTimeout, forceStop: true })
      case "HardStop":
        return pve.power(action.guest, "stop")
      case "Shutdown":
        return pve.power(action.guest, "shutdown", {
          ...(action.timeout === undefined ? {} : { timeout: action.timeout }),
          forceStop: action.forceStop
        })
      case "SetConfig":
        return pve.setConfig(action.guest, { set: action.set, delete: action.delete, digest: action.digest })
      case "SnapshotCreate":
        return pve.createSnapshot(action.guest, {
          name: action.name,
          ...(action.description === undefined ? {} : { description: action.description }),
          ...(action.vmstate === undefined ? {} : { vmstate: action.vmstate })
        })
      case "SnapshotRollback":
        return pve.rollbackSnapshot(
          action.guest,
          action.name,
          action.start === undefined ? {} : { start: action.start }
        )
      case "SnapshotDelete":
        return pve.deleteSnapshot(action.guest, action.name, action.force === undefined ? {} : { force: action.force })
    }
  })

/**
 * What PVE shows cannot tell whether the op took effect: a record the engine cannot check (an
 * action or params it never writes), or a guest that moved away showing the change.
 */
export class PostStateUnknown
  extends Data.TaggedError("PostStateUnknown")<{ readonly opId: string; readonly reason: string }>
{
  override get message(): string {
    return `cannot check the post-state of op ${this.opId}: ${this.reason}`
  }
}

const SetConfigParams = Schema.Struct({
  set: Schema.Record({ key: Schema.String, value: ConfigValue }),
  delete: Schema.Array(Schema.String)
})
const decodeSetConfig = Schema.decodeUnknownEither(SetConfigParams)
const decodeSnapshot = Schema.decodeUnknownEither(Schema.Struct({ name: Schema.String }))
const decodeRef = Schema.decodeUnknownOption(GuestRef)

export const refOfOp = (op: OpRecord): Option.Option<GuestRef> =>
  decodeRef({ vmid: op.vmid, node: op.node, type: op.guestType })

/** Whether a config (pending merged) shows every written key and none of the deleted ones. */
export const configShows = (
  type: GuestRef["type"],
  values: Readonly<Record<string, ConfigValue>>,
  set: Readonly<Record<string, ConfigValue>>,
  deleted: ReadonlyArray<string>
): boolean =>
  Object.entries(set).every(([k, v]) => isEqual(type, k, v, Object.hasOwn(values, k) ? values[k] : undefined)) &&
  deleted.every((k) => !Object.hasOwn(values, k))

/**
 * Where the guest `vmid` lives now (a migration moves it between nodes), optionally only if it
 * is of `type`; None when the cluster does not list it (or lists a row PVE would never produce).
 */
export const locateGuest = (
  vmid: number,
  type?: GuestRef["type"]
): Effect.Effect<Option.Option<GuestRef>, PveError, Pve> =>
  Effect.map(Effect.flatMap(Pve, (pve) => pve.guests), (rows) =>
    Option.flatMap(
      Option.fromNullable(rows.find((r) => r.vmid === vmid && (type === undefined || r.type === type))),
      (row) => decodeRef({ vmid: row.vmid, node: row.node, type: row.type })
    ))

/**
 * Whether PVE now shows the op's intended post-state: the power state for start/stop/shutdown,
 * the written keys (compared through the normalizers) for set-config, the snapshot listed
 * (create) or gone (delete), the snapshot as the config's parent (rollback). Used to verify a call and by
 * `recover` when no task tells what happened. Read on the node the op recorded; when PVE says
 * the guest is not there, it has migrated since, and the post-state is read where it lives now
 * (a migration carries its config along): not shown there, the op was not applied; shown, it
 * is undecidable (movedAndShown). No retry: callers retry.
 */
export const checkPostState = (op: OpRecord): Effect.Effect<boolean, PveError | PostStateUnknown, Pve> =>
  Effect.gen(function*() {
    const ref = refOfOp(op)
    if (Option.isNone(ref)) return yield* new PostStateUnknown({ opId: op.opId, reason: "bad guest reference" })
    return yield* postStateOn(op, ref.value).pipe(
      Effect.catchTag(
        "PveNotFound",
        (notThere) =>
          Effect.flatMap(
            locateGuest(ref.value.vmid, ref.value.type),
            (now) =>
              Option.isSome(now) && now.value.node !== ref.value.node
                ? Effect.flatMap(
                  postStateOn(op, now.value),
                  (applied) => applied ? movedAndShown(op, now.value.node) : Effect.succeed(false)
                )
                : Effect.fail(notThere)
          )
      )
    )
  })

/**
 * The guest migrated and its new node shows the op's change. Another agent (the new node's) may
 * have made it, from the same document: claiming it as this op's would journal a change this
 * agent may never have sent, and make it revertible here. The operator decides.
 */
const movedAndShown = (op: OpRecord, node: string) =>
  Effect.fail(
    new PostStateUnknown({
      opId: op.opId,
      reason:
        `guest ${op.vmid} moved to node ${node}, which shows the change; whether this op or ${node}'s agent made it cannot be told`
    })
  )

const postStateOn = (op: OpRecord, guest: GuestRef): Effect.Effect<boolean, PveError | PostStateUnknown, Pve> =>
  Effect.gen(function*() {
    const pve = yield* Pve
    switch (op.action) {
      case "start":
        return (yield* pve.status(guest)).status === "running"
      case "shutdown":
      case "stop":
        return (yield* pve.status(guest)).status === "stopped"
      case "set-config": {
        const params = decodeSetConfig(op.params)
        if (Either.isLeft(params)) return yield* new PostStateUnknown({ opId: op.opId, reason: params.left.message })
        const config = yield* pve.config(guest)
        return configShows(guest.type, config.values, params.right.set, params.right.delete)
      }
      case "snapshot-create":
      case "snapshot-delete":
      case "snapshot-rollback": {
        const params = decodeSnapshot(op.params)
        if (Either.isLeft(params)) return yield* new PostStateUnknown({ opId: op.opId, reason: params.left.message })
        const name = params.right.name
        if (op.action === "snapshot-rollback") {
          // PVE makes the rolled-back snapshot the current config's parent (pve-guest-common
          // `PVE::AbstractConfig::snapshot_rollback`).
          return (yield* pve.config(guest)).values["parent"] === name
        }
        const listed = (yield* pve.snapshots(guest)).some((s) => s.name === name)
        return op.action === "snapshot-create" ? listed : !listed
      }
      default:
        return yield* new PostStateUnknown({ opId: op.opId, reason: `action ${op.action} is not the engine's` })
    }
  })
