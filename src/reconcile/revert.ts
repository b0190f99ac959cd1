/**
 * `revert OP_ID`: runs the inverse the gate journaled with an op, through the engine, as its
 * own journaled op `revert:<OP_ID>`. Refused unless the op is done, has an inverse and was not
 * reverted yet. A config inverse is guarded twice: the keys must still show the op's post-state
 * (else someone changed them since, and undoing our op would clobber their change — Conflict),
 * and the write carries the digest of that very read, so nothing can slip in between.
 *
 * The inverse runs on the node the guest lives on now (it may have migrated since the op); in
 * node scope only if that is still this agent's node, else the revert is refused
 * (`guest-elsewhere`).
 *
 * Journal origin: "planned" (the journal's CHECK allows only planned/signed; a "revert" origin
 * needs a journal migration), with the `revert:` op id prefix naming what it is. The gate is
 * asked with origin "revert": the inverse restores a state the guest had.
 */
import { Effect, Either, Option, Schema } from "effect"
import { type Action, SetConfig, SnapshotDelete, SnapshotRollback, Start, Stop } from "../domain/Action.js"
import { decodeInverse, type Inverse } from "../gate/inverse.js"
import { Pve } from "../pve/Pve.js"
import type { PveError } from "../pve/PveError.js"
import { Journal } from "../state/Journal.js"
import type { JournalStorageError } from "../state/JournalError.js"
import { Engine } from "./Engine.js"
import { NodeScope, type NodeScopeUnknown, owns } from "./NodeScope.js"
import { isEqual } from "./normalize.js"
import { locateGuest, refOfOp } from "./opShape.js"
import { type OpResult, Outcome } from "./Outcome.js"

export const RevertRefusalReason = Schema.Literal(
  "not-found",
  "ambiguous",
  "not-done",
  "no-inverse",
  "already-reverted",
  "bad-record",
  "guest-gone",
  "guest-elsewhere"
)
export type RevertRefusalReason = typeof RevertRefusalReason.Type

export class RevertRefused extends Schema.TaggedError<RevertRefused>()("RevertRefused", {
  opId: Schema.String,
  reason: RevertRefusalReason,
  detail: Schema.String
}) {
  override get message(): string {
    return `cannot revert op ${this.opId}: ${this.detail}`
  }
}

/** The keys the op wrote no longer show its post-state: someone else changed them since. */
export class RevertConflict extends Schema.TaggedError<RevertConflict>()("RevertConflict", {
  opId: Schema.String,
  keys: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `cannot revert op ${this.opId}: ${this.keys.join(", ")} changed since the op (not clobbering)`
  }
}

export const revertOpId = (opId: string): string => `revert:${opId}`

const refuse = (opId: string, reason: RevertRefusalReason, detail: string) =>
  Effect.fail(new RevertRefused({ opId, reason, detail }))

/** The inverse as an engine action; a config inverse is checked against the guest first. */
const actionFor = (opId: string, inverse: Inverse, guest: Action["guest"]) =>
  Effect.gen(function*() {
    switch (inverse.kind) {
      case "power":
        return inverse.status === "running"
          ? Start.make({ guest })
          : Stop.make({ guest, shutdownTimeout: inverse.shutdownTimeout })
      case "snapshot-delete":
        return SnapshotDelete.make({ guest, name: inverse.name })
      case "snapshot-rollback":
        return SnapshotRollback.make({ guest, name: inverse.name })
      case "set-config": {
        const config = yield* (yield* Pve).config(guest)
        const values = config.values
        const changed = Object.entries(inverse.expect)
          .filter(([k, v]) => !isEqual(guest.type, k, v ?? undefined, Object.hasOwn(values, k) ? values[k] : undefined))
          .map(([k]) => k)
        if (changed.length > 0) return yield* new RevertConflict({ opId, keys: changed.sort() })
        return SetConfig.make({ guest, set: inverse.set, delete: inverse.delete, digest: config.digest })
      }
    }
  })

export type RevertError = RevertRefused | RevertConflict | JournalStorageError | PveError | NodeScopeUnknown

/** Reverts one journaled op, named by its id or a unique prefix; the engine's outcome is the answer (Applied = reverted). */
export const revertOp = (requested: string): Effect.Effect<OpResult, RevertError, Journal | Engine | Pve | NodeScope> =>
  Effect.gen(function*() {
    const journal = yield* Journal
    const engine = yield* Engine
    const op = yield* journal.resolve(requested).pipe(
      Effect.catchTags({
        JournalOpNotFound: () => refuse(requested, "not-found", "no such op in the journal"),
        JournalOpAmbiguous: (e) => refuse(requested, "ambiguous", e.message.replace(/^op id \S+ is /, ""))
      })
    )
    const opId = op.opId
    if (op.phase !== "done") {
      return yield* refuse(opId, "not-done", `the op is ${op.phase}, only a done op can be reverted`)
    }
    if (op.inverse === null) {
      return yield* refuse(opId, "no-inverse", `${op.action} has no journaled inverse (irreversible)`)
    }
    const id = revertOpId(opId)
    const earlier = yield* journal.get(id)
    if (Option.isSome(earlier) && earlier.value.phase === "done") {
      return yield* refuse(opId, "already-reverted", `already reverted by op ${id}`)
    }
    const inverse = decodeInverse(op.inverse)
    if (Either.isLeft(inverse)) {
      return yield* refuse(opId, "bad-record", `the journaled inverse is not understood: ${inverse.left.message}`)
    }
    const ref = refOfOp(op)
    if (Option.isNone(ref)) return yield* refuse(opId, "bad-record", "the journaled guest reference is not valid")
    // The guest may have migrated since the op: the inverse goes to the node it lives on now.
    const now = yield* locateGuest(ref.value.vmid, ref.value.type)
    if (Option.isNone(now)) return yield* refuse(opId, "guest-gone", `guest ${op.vmid} is no longer in the cluster`)
    // In node scope another node's guest is its agent's alone: a write from here would bypass
    // that agent's lane for the guest, and its next pass would undo it.
    const ownership = yield* Effect.flatMap(NodeScope, (scope) => scope.current)
    if (!owns(ownership, now.value.node)) {
      return yield* refuse(
        opId,
        "guest-elsewhere",
        `guest ${op.vmid} lives on node ${now.value.node} now, and this agent manages node ${
          ownership.node ?? ""
        } only: change it there (its agent, a signed op to it, or by hand)`
      )
    }
    const action = yield* actionFor(opId, inverse.right, now.value)
    return yield* engine.run(action, {
      revision: undefined,
      opId: id,
      origin: "planned",
      gateOrigin: "revert",
      kind: "ordered"
    })
  })

/** Whether a revert's outcome means the op is undone now. */
export const reverted = (result: OpResult): boolean =>
  result.outcome._tag === "Applied" || Outcome.$is("AlreadyApplied")(result.outcome)
