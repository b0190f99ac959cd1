/**
 * How a plan action is written into the journal and how its intended post-state is checked.
 * One place for both, so an op journaled by one run is understood by the next one (and by
 * start-up recovery, which only has the journal record): action names match TaskTypes
 * (`start`, `shutdown`, `set-config`), params are plain JSON.
 */
import { Data, Effect, Either, Option, Schema } from "effect"
import type { Action } from "../domain/Action.js"
import { ConfigValue } from "../domain/GuestConfig.js"
import { GuestRef } from "../domain/Guest.js"
import { Pve } from "../pve/Pve.js"
import type { PveError } from "../pve/PveError.js"
import type { JsonValue, OpRecord } from "../state/OpRecord.js"
import { isEqual } from "./normalize.js"
import type { ObservedGuest } from "./plan.js"

/** The journal's action name; Stop is PVE's `shutdown` with forceStop (Action.ts). */
export const journalAction = (action: Action): string =>
  action._tag === "Start" ? "start" : action._tag === "Stop" ? "shutdown" : "set-config"

/**
 * Params as journaled (and hashed). qemu SetConfig is POSTed, so PVE answers a `qmconfig`
 * task; `mode` tells recovery to search the task list for it (TaskTypes.ts).
 */
export const journalParams = (action: Action): JsonValue => {
  switch (action._tag) {
    case "Start":
      return {}
    case "Stop":
      return { timeout: action.shutdownTimeout, forceStop: true }
    case "SetConfig":
      return {
        set: { ...action.set },
        delete: [...action.delete].sort(),
        digest: action.digest,
        ...(action.guest.type === "qemu" ? { mode: "async" } : {})
      }
  }
}

/** The observed values the action is about: power state, or the keys it writes. */
export const preStateOf = (action: Action, observed: ObservedGuest | undefined): JsonValue => {
  if (action._tag !== "SetConfig") return { status: observed?.status?.status ?? null }
  const values = observed?.config?.values ?? {}
  const keys = [...Object.keys(action.set), ...action.delete].sort()
  return { config: Object.fromEntries(keys.map((k) => [k, Object.hasOwn(values, k) ? values[k] ?? null : null])) }
}

/** A journal record the engine cannot check: an action or params it never writes. */
export class PostStateUnknown extends Data.TaggedError("PostStateUnknown")<{ readonly opId: string; readonly reason: string }> {
  override get message(): string {
    return `cannot check the post-state of op ${this.opId}: ${this.reason}`
  }
}

const SetConfigParams = Schema.Struct({
  set: Schema.Record({ key: Schema.String, value: ConfigValue }),
  delete: Schema.Array(Schema.String)
})
const decodeSetConfig = Schema.decodeUnknownEither(SetConfigParams)
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
 * Whether PVE now shows the op's intended post-state: the power state for start/shutdown, the
 * written keys (compared through the normalizers) for set-config. Used to verify a call and by
 * `recover` when no task tells what happened. One read, no retry: callers retry.
 */
export const checkPostState = (op: OpRecord): Effect.Effect<boolean, PveError | PostStateUnknown, Pve> =>
  Effect.gen(function*() {
    const pve = yield* Pve
    const ref = refOfOp(op)
    if (Option.isNone(ref)) return yield* new PostStateUnknown({ opId: op.opId, reason: "bad guest reference" })
    switch (op.action) {
      case "start":
        return (yield* pve.status(ref.value)).status === "running"
      case "shutdown":
      case "stop":
        return (yield* pve.status(ref.value)).status === "stopped"
      case "set-config": {
        const params = decodeSetConfig(op.params)
        if (Either.isLeft(params)) return yield* new PostStateUnknown({ opId: op.opId, reason: params.left.message })
        const config = yield* pve.config(ref.value)
        return configShows(ref.value.type, config.values, params.right.set, params.right.delete)
      }
      default:
        return yield* new PostStateUnknown({ opId: op.opId, reason: `action ${op.action} is not the engine's` })
    }
  })
