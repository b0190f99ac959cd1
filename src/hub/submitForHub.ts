/**
 * A signed op from the hub, run through the one signed-op path (authz/submit.ts) and told back
 * to the hub as the protocol's outcome summary (docs/hub-protocol.md). Never fails: a storage
 * error before admission is `deferred` (the hub offers the op again); every other refusal is
 * `refused` with its tag.
 */
import { Effect } from "effect"
import type { SignedOps } from "../authz/SignedOps.js"
import { submitSignedOp } from "../authz/submit.js"
import type { Pve } from "../pve/Pve.js"
import type { Engine } from "../reconcile/Engine.js"
import type { NodeScope } from "../reconcile/NodeScope.js"
import { describeOutcome, type OpResult } from "../reconcile/Outcome.js"
import type { OpOutcomeSummary } from "./protocol.js"

const RESULT: Record<OpResult["outcome"]["_tag"], OpOutcomeSummary["result"]> = {
  Applied: "applied",
  AlreadyApplied: "already-applied",
  Conflict: "conflict",
  Skipped: "skipped",
  Failed: "failed"
}

/**
 * `submitSignedOp` as the hub loop's `onOp`: never fails. A storage error before admission is
 * `deferred` (the op is offered again); every other refusal is `refused` with its tag.
 */
export const submitForHub = (
  envelope: unknown
): Effect.Effect<OpOutcomeSummary, never, SignedOps | Engine | Pve | NodeScope> =>
  submitSignedOp(envelope).pipe(
    Effect.map((r): OpOutcomeSummary => ({
      op_id: r.op.op_id,
      seq: r.op.seq,
      result: RESULT[r.outcome._tag],
      ...(r.outcome._tag === "Failed" ? { error_tag: r.outcome.errorTag } : {}),
      message: describeOutcome(r.outcome)
    })),
    Effect.catchAll((e) =>
      Effect.succeed<OpOutcomeSummary>({
        // Undecided, not refused: storage or PVE failed, or the agent does not know its node yet.
        result: e._tag === "NonceStoreStorageError" || e._tag === "NodeScopeUnknown" || e._tag.startsWith("Pve")
          ? "deferred"
          : "refused",
        error_tag: e._tag,
        message: e.message
      })
    )
  )
