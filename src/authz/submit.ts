/**
 * The signed-op pipeline end to end (docs/architecture.md, invariant 6), the one path both `op submit` and
 * the hub loop use: verify → resolve the target guest → admit (replay protection) → gate and
 * engine on the guest's ordered lane, journaled under the envelope's op id.
 *
 * The guest is resolved between verification and admission: nothing unverified makes us read
 * PVE, and a transient PVE failure there leaves the op id unspent, so the hub may offer the same
 * envelope again. Once admitted, the op id is spent whatever the gate or engine answer.
 */
import { Effect, Option, Schema } from "effect"
import {
  type Action,
  HardStop,
  SetConfig,
  Shutdown,
  SnapshotCreate,
  SnapshotDelete,
  SnapshotRollback,
  Start
} from "../domain/Action.js"
import type { GuestRef } from "../domain/Guest.js"
import type { Pve } from "../pve/Pve.js"
import type { PveError } from "../pve/PveError.js"
import { Engine, type RunOptions } from "../reconcile/Engine.js"
import { NodeScope, type NodeScopeUnknown, owns } from "../reconcile/NodeScope.js"
import { locateGuest } from "../reconcile/opShape.js"
import type { OpResult } from "../reconcile/Outcome.js"
import type { NonceStoreStorageError } from "../state/NonceStore.js"
import type { OpPayload } from "./OpPayload.js"
import type { SignedOpRefused } from "./SignedOpError.js"
import { SignedOps } from "./SignedOps.js"

/** The op names a vmid the cluster does not have (or a row PVE would never produce). */
export class SubmitGuestNotFound extends Schema.TaggedError<SubmitGuestNotFound>()("SubmitGuestNotFound", {
  opId: Schema.String,
  vmid: Schema.Number
}) {
  override get message(): string {
    return `op ${this.opId}: guest ${this.vmid} is not in the cluster`
  }
}

/**
 * The op's guest lives on a node this agent does not own (node scope): the hub sends each op to
 * the agent of the guest's node. Refused before admission, so the op id stays unspent there.
 */
export class SubmitGuestElsewhere extends Schema.TaggedError<SubmitGuestElsewhere>()("SubmitGuestElsewhere", {
  opId: Schema.String,
  vmid: Schema.Number,
  node: Schema.String,
  agentNode: Schema.String
}) {
  override get message(): string {
    return `op ${this.opId}: guest ${this.vmid} is on node ${this.node}, and this agent manages node ${this.agentNode} only; send the op to ${this.node}'s agent`
  }
}

export type SubmitRefused =
  | SignedOpRefused
  | NonceStoreStorageError
  | SubmitGuestNotFound
  | SubmitGuestElsewhere
  | NodeScopeUnknown
  | PveError

/** The engine action a verified payload asks for; its precondition digest guards it. */
export const actionOf = (op: OpPayload, guest: GuestRef): Action => {
  const a = op.action
  switch (a.kind) {
    case "start":
      return Start.make({ guest })
    case "stop":
      return HardStop.make({ guest })
    case "shutdown":
      return Shutdown.make({
        guest,
        forceStop: a.forceStop ?? false,
        ...(a.timeout === undefined ? {} : { timeout: a.timeout })
      })
    case "set-config":
      // Empty digest: the engine guards the write with the digest it reads (Action.ts).
      return SetConfig.make({ guest, set: a.set, delete: a.delete, digest: op.precondition?.digest ?? "" })
    case "snapshot-create":
      return SnapshotCreate.make({
        guest,
        name: a.name,
        ...(a.description === undefined ? {} : { description: a.description }),
        ...(a.vmstate === undefined ? {} : { vmstate: a.vmstate })
      })
    case "snapshot-rollback":
      return SnapshotRollback.make({ guest, name: a.name, ...(a.start === undefined ? {} : { start: a.start }) })
    case "snapshot-delete":
      return SnapshotDelete.make({ guest, name: a.name, ...(a.force === undefined ? {} : { force: a.force }) })
  }
}

/**
 * Where the op's guest lives now (by vmid, wherever it migrated: invariant 3), if this agent
 * owns that node.
 */
const resolveGuest = (op: OpPayload) =>
  Effect.gen(function*() {
    const ownership = yield* Effect.flatMap(NodeScope, (scope) => scope.current)
    const ref = yield* locateGuest(op.target.vmid)
    if (Option.isNone(ref)) {
      return yield* new SubmitGuestNotFound({ opId: op.op_id, vmid: op.target.vmid })
    }
    if (!owns(ownership, ref.value.node)) {
      return yield* new SubmitGuestElsewhere({
        opId: op.op_id,
        vmid: op.target.vmid,
        node: ref.value.node,
        agentNode: ownership.node ?? ""
      })
    }
    return ref.value
  })

export interface SubmitResult extends OpResult {
  readonly op: OpPayload
  readonly keyid: string
}

/**
 * Runs one signed op envelope. Refusals before the engine are the error channel; what the
 * engine made of the op (Applied, Conflict, Skipped by the gate…) is the outcome.
 */
export const submitSignedOp = (
  envelope: unknown,
  gatePolicy: Option.Option<NonNullable<RunOptions["gatePolicy"]>> = Option.none()
): Effect.Effect<SubmitResult, SubmitRefused, SignedOps | Engine | Pve | NodeScope> =>
  Effect.gen(function*() {
    const signed = yield* SignedOps
    const engine = yield* Engine
    const verified = yield* signed.verifyOnly(envelope)
    // Only a verified op id is named in the trace: an unverified one is whatever the sender wrote.
    yield* Effect.annotateCurrentSpan({
      "op.id": verified.op.op_id,
      vmid: verified.op.target.vmid,
      action: verified.op.action.kind
    })
    const guest = yield* resolveGuest(verified.op)
    // Verifies again (cheap) and admits atomically: of two concurrent submits, one is admitted.
    const admitted = yield* signed.check(envelope)
    const op = admitted.op
    const result = yield* engine.run(actionOf(op, guest), {
      revision: undefined,
      opId: op.op_id,
      origin: "signed",
      kind: "ordered",
      ...Option.match(gatePolicy, { onNone: () => ({}), onSome: (p) => ({ gatePolicy: p }) }),
      ...(op.precondition === undefined || op.action.kind === "set-config" ? {} : { precondition: op.precondition })
    })
    return { ...result, op, keyid: admitted.keyid }
  }).pipe(
    // Each signed op is its own trace, whether `op submit` or the hub loop brought it: its
    // spans (verify, guest lookup, queue wait, the engine's PVE requests) are what explains it.
    Effect.withSpan("signed_op.submit", { root: true })
  )
