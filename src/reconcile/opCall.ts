/**
 * The PVE call of one journaled op, and what its answer means (docs/architecture.md,
 * invariants 4 and 5): a UPID is journaled at once and waited on, a synchronous answer is a
 * success, and either is verified by re-reading the guest before the op is journaled done.
 *
 * A call whose answer does not prove PVE refused it (a 5xx, a timeout, a connection lost after
 * sending, an unreadable answer) is never sent again: the op is resolved by observing, with
 * start-up recovery's own logic applied to this one op (task-list search for our UPID, else the
 * post-state). A call PVE refused, or one that certainly never left, is journaled failed and
 * re-planned by the next pass. Digest mismatch is a Conflict, never forced; a lock is a Skip
 * naming the lock.
 */
import { type Duration, Effect, Either } from "effect"
import type { Action } from "../domain/Action.js"
import type { UpidString } from "../domain/Upid.js"
import { Pve, type PveShape } from "../pve/Pve.js"
import type { PveError, PveWaitError } from "../pve/PveError.js"
import { Journal, type JournalShape } from "../state/Journal.js"
import type { OpDetail, OpRecord } from "../state/OpRecord.js"
import { resolveOps } from "../state/Recovery.js"
import type { EnginePhasesShape } from "./EnginePhases.js"
import { failedOf, orStop, stop } from "./EngineStop.js"
import { callPve, checkPostState, type PostStateUnknown } from "./opShape.js"
import { Outcome } from "./Outcome.js"

/** What the engine hands each step of an op: its services, the task deadline, the read retries. */
export interface OpEnv {
  readonly pve: PveShape
  readonly journal: JournalShape
  readonly phases: EnginePhasesShape
  readonly deadline: Duration.Duration
  readonly read: <A, E extends { readonly _tag: string }, R>(read: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

const LOCKED_RE = /\b(?:VM|CT) is locked \(([^)]+)\)/

export const makeOpCall = ({ deadline, journal, phases, pve, read }: OpEnv) => {
  const check = (op: OpRecord) => Effect.provideService(checkPostState(op), Pve, pve)
  const undecidable = (e: PveError | PostStateUnknown) => (e._tag === "PostStateUnknown" ? e.reason : undefined)

  const failOp = (op: OpRecord, detail: OpDetail, outcome: Outcome) =>
    Effect.zipRight(orStop(journal.fail(op.opId, detail)), Effect.fail(stop(outcome)))

  /**
   * The call may or may not have reached PVE: resolve this one op exactly as start-up
   * recovery would (task list, then the guest's post-state).
   */
  const resolveUnsure = (op: OpRecord, why: string) =>
    Effect.gen(function*() {
      yield* Effect.logWarning("outcome unknown; re-observing, never re-sending").pipe(
        Effect.annotateLogs({ opId: op.opId, why })
      )
      const summary = yield* resolveOps([op], { checkPostState: check, undecidable, waitDeadline: deadline }).pipe(
        Effect.provideService(Journal, journal),
        Effect.provideService(Pve, pve),
        orStop
      )
      const result = summary.outcomes[0]
      if (result === undefined) {
        return yield* stop(Outcome.Failed({ errorTag: "Unresolved", message: why, exitstatus: undefined }))
      }
      const d = result.detail
      switch (result.resolution) {
        case "done": {
          const verified = yield* Effect.orElseSucceed(read(check(op)), () => false)
          return Outcome.Applied({
            upid: d.upids?.[0],
            exitstatus: d.exitstatus,
            verified,
            detail: `${why}; ${d.message}`
          })
        }
        case "failed":
          return Outcome.Failed({ errorTag: "NotApplied", message: `${why}; ${d.message}`, exitstatus: d.exitstatus })
        case "needs-operator":
          return Outcome.Skipped({ reason: `needs an operator: ${d.message}` })
        case "unresolved":
          return Outcome.Failed({ errorTag: "Unresolved", message: `${why}; ${d.message}`, exitstatus: undefined })
      }
    })

  /**
   * PVE answered an error to the mutation itself. Only an answer that proves PVE refused the
   * request before it took effect ends the op as failed: a permission or parameter check, a
   * digest or lock check (all made before the write), an unknown route. Anything else — a
   * 5xx (a handler may die after writing the config; 59x come from between pveproxy and
   * pvedaemon), a timeout, a connection lost after sending, an answer we cannot read — is
   * resolved by observing the guest, and the request is never sent again.
   */
  const onCallError = (op: OpRecord, e: PveError) => {
    const detail: OpDetail = { message: e.message, errorTag: e._tag }
    switch (e._tag) {
      case "PveDigestMismatch":
        return failOp(op, detail, Outcome.Conflict({ detail: `${e.message}; re-planned next pass, never forced` }))
      case "PveGuestLocked":
        return failOp(op, detail, Outcome.Skipped({ reason: `locked (${e.lock})` }))
      case "PveTimeout":
      case "PveBadResponse":
        return resolveUnsure(op, e.message)
      case "PveTransport":
        return e.requestSent ? resolveUnsure(op, e.message) : failOp(op, detail, failedOf(e))
      case "PveApiError":
        // pve-http-server answers 501 for a method or path no handler serves: nothing ran.
        return e.status >= 500 && e.status !== 501 ? resolveUnsure(op, e.message) : failOp(op, detail, failedOf(e))
      default:
        return failOp(op, detail, failedOf(e))
    }
  }

  /** A task that ended with an error exit; a lock named in it is a skip, as for a sync answer. */
  const onWaitError = (op: OpRecord, upid: UpidString, e: PveWaitError) => {
    if (e._tag === "PveTaskFailed") {
      const detail: OpDetail = { message: "task failed", exitstatus: e.exitstatus, errorTag: e._tag, upids: [upid] }
      const lock = LOCKED_RE.exec(e.exitstatus)?.[1]
      const outcome = lock === undefined ? failedOf(e, e.exitstatus) : Outcome.Skipped({ reason: `locked (${lock})` })
      return failOp(op, detail, outcome)
    }
    // Still running at the deadline, or PVE unreadable: the op stays in-flight with its UPID,
    // and the next pass (same op id) or start-up recovery waits on that task; never re-sent.
    return Effect.fail(stop(failedOf(e)))
  }

  const verify = (op: OpRecord, upid: UpidString | undefined, exitstatus: string | undefined) =>
    Effect.gen(function*() {
      const upids = upid === undefined ? undefined : [upid]
      const seen = yield* Effect.either(read(check(op)))
      if (Either.isRight(seen) && !seen.right) {
        const message = "PVE reported success but the guest does not show the change"
        return yield* failOp(
          op,
          { message, exitstatus, upids, errorTag: "VerifyFailed" },
          Outcome.Failed({ errorTag: "VerifyFailed", message, exitstatus })
        )
      }
      const detail = Either.isRight(seen) ? "verified" : `verification read failed: ${seen.left.message}`
      yield* orStop(journal.finish(op.opId, { message: `applied, ${detail}`, exitstatus, upids }))
      return Outcome.Applied({ upid, exitstatus, verified: Either.isRight(seen), detail })
    })

  /** Sends the journaled op to PVE, and follows its answer to a verified outcome. */
  const execute = (action: Action, op: OpRecord) =>
    Effect.gen(function*() {
      yield* phases.reached("before-call")
      const answer = yield* Effect.either(Effect.provideService(callPve(action), Pve, pve))
      if (Either.isLeft(answer)) return yield* onCallError(op, answer.left)
      yield* phases.reached("after-call")
      if (answer.right._tag === "Sync") return yield* verify(op, undefined, undefined)
      const upid = answer.right.upid
      yield* Effect.annotateCurrentSpan("upid", upid)
      // Journaled before waiting: a crash from here on is resolved by the UPID alone.
      yield* orStop(journal.recordUpid(op.opId, upid))
      yield* phases.reached("waiting")
      const status = yield* pve.waitTask(upid, { deadline }).pipe(Effect.catchAll((e) => onWaitError(op, upid, e)))
      yield* phases.reached("after-task")
      return yield* verify(op, upid, status.exitstatus)
    })

  return { execute, resolveUnsure, checkPostState: check, undecidable }
}

export type OpCall = ReturnType<typeof makeOpCall>
