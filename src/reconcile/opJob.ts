/**
 * One op inside its guest's queue job, where nothing else can touch the guest: resume an op an
 * earlier run left unfinished, or read the pre-state fresh, check a signed op's precondition
 * digest, ask the gate (policy and the inverse, from that pre-state), journal the intent with
 * the inverse (durable before any PVE call), and call PVE (opCall.ts).
 *
 * A power action whose target state the fresh read already shows is journaled done without a
 * call (PVE would fail "already running"). A gate decision may ask for an action first (the
 * safety snapshot before a rollback): it runs in the same job, as its own journaled op.
 */
import { Effect, Option } from "effect"
import type { Action } from "../domain/Action.js"
import type { GateContext, GateOrigin, GateShape } from "../gate/Gate.js"
import type { PreState } from "../gate/inverse.js"
import { Pve } from "../pve/Pve.js"
import type { JsonValue, OpOrigin } from "../state/OpRecord.js"
import { orStop, type Stop, stop } from "./EngineStop.js"
import type { OpCall, OpEnv } from "./opCall.js"
import { journalAction, journalParams, nothingToSend, preStateOf, readPreState } from "./opShape.js"
import { describeOutcome, isSuccess, Outcome } from "./Outcome.js"

/** How many times one change is sent when PVE shows something else after each (opJob, VerifyFailed). */
export const VERIFY_ATTEMPTS = 3

/** What one op in a job needs of the engine's `RunOptions`, and the token user it journals. */
export interface OpJobOptions {
  readonly tokenUser: string
  readonly origin?: OpOrigin
  readonly gateOrigin?: GateOrigin
  readonly precondition?: { readonly digest: string }
  readonly gatePolicy?: GateContext["extend"]
}

export const makeOpJob = ({ journal, pve, read }: OpEnv, gate: GateShape, call: OpCall) => {
  /** Journals the intent with the gate's inverse; a done op id is AlreadyApplied. */
  const begin = (
    action: Action,
    opId: string,
    options: OpJobOptions,
    pre: PreState,
    inverse: JsonValue | null
  ) =>
    journal.intent({
      opId,
      origin: options.origin ?? "planned",
      vmid: action.guest.vmid,
      node: action.guest.node,
      guestType: action.guest.type,
      action: journalAction(action),
      params: journalParams(action),
      preState: preStateOf(action, pre),
      preDigest: pre.config.digest,
      inverse,
      tokenUser: options.tokenUser
    }).pipe(
      Effect.catchTags({
        JournalAlreadyApplied: () => Effect.fail(stop(Outcome.AlreadyApplied())),
        JournalNeedsOperator: (e) => Effect.fail(stop(Outcome.Skipped({ reason: e.message })))
      }),
      orStop
    )

  /** The pre-state, read fresh in the job; unreadable → nothing journaled, nothing sent. */
  const preStateFor = (action: Action) =>
    read(Effect.provideService(readPreState(action), Pve, pve)).pipe(
      Effect.mapError((e) =>
        stop(
          Outcome.Failed({ errorTag: e._tag, message: `pre-state read failed: ${e.message}`, exitstatus: undefined })
        )
      )
    )

  /** One op inside the guest's job: resume, or read → precondition → gate → (before) → intent → call. */
  const runInJob = (
    action: Action,
    opId: string,
    options: OpJobOptions
  ): Effect.Effect<Outcome, Stop> =>
    Effect.gen(function*() {
      const known = yield* orStop(journal.get(opId))
      if (Option.isSome(known)) {
        const phase = known.value.phase
        if (phase === "intent" || phase === "in-flight") {
          return yield* call.resolveUnsure(known.value, "left unfinished by an earlier run")
        }
        if (phase === "done") {
          return Outcome.AlreadyApplied()
        }
        // PVE took this very change and showed something else, attempt after attempt (a value it
        // rewrites in a way no normalizer here models): sending it again would only write the
        // guest on every pass. A few attempts per change and document revision absorb a one-off
        // race with another writer; a new revision is a new op and tries again.
        const last = known.value
        if (phase === "failed" && last.detail?.errorTag === "VerifyFailed" && last.attempt >= VERIFY_ATTEMPTS) {
          return yield* stop(Outcome.Skipped({
            reason: `PVE took this change ${last.attempt} times (op ${opId.slice(0, 12)}) but shows something ` +
              "else each time; it is not sent again for this revision: check the desired value against what " +
              "PVE stores",
            refusedBy: "VerifyFailed"
          }))
        }
      }
      const pre = yield* preStateFor(action)
      const expected = options.precondition?.digest
      if (expected !== undefined && expected !== pre.config.digest) {
        return yield* stop(
          Outcome.Conflict({
            detail: `config digest is ${pre.config.digest}, the op expects ${expected}; never forced`
          })
        )
      }
      // An empty digest asks for the one read here, so the inverse below stays exact.
      const effective: Action = action._tag === "SetConfig" && action.digest === ""
        ? { ...action, digest: pre.config.digest }
        : action
      const origin = options.gateOrigin ?? (options.origin === "signed" ? "signed" : "planned")
      const decision = yield* gate.check(effective, {
        origin,
        opId,
        pre,
        ...(options.gatePolicy === undefined ? {} : { extend: options.gatePolicy })
      }).pipe(
        Effect.mapError((e) => stop(Outcome.Skipped({ reason: e.message, refusedBy: e._tag })))
      )
      if (decision.before !== undefined) {
        const first = decision.before
        const outcome = yield* runInJob(first.action, first.opId, { ...options, precondition: undefined }).pipe(
          Effect.catchTag("EngineStop", (s) => Effect.succeed(s.outcome))
        )
        if (!isSuccess(outcome)) {
          return yield* stop(
            Outcome.Failed({
              errorTag: "BeforeActionFailed",
              message: `${first.action._tag} ${first.opId}: ${describeOutcome(outcome)}`,
              exitstatus: undefined
            })
          )
        }
      }
      const op = yield* begin(effective, opId, options, pre, decision.inverse)
      if (nothingToSend(effective, pre)) {
        const detail = effective._tag === "SetConfig"
          ? "no keys to write; no PVE call"
          : `already ${pre.status}; no PVE call`
        yield* orStop(journal.finish(opId, { message: detail }))
        return Outcome.Applied({ upid: undefined, exitstatus: undefined, verified: true, detail })
      }
      return yield* call.execute(effective, op)
    })

  return runInJob
}
