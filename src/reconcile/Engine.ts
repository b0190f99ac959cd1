/**
 * Engine: runs one action, exactly once in effect (docs/architecture.md, invariants 4 and 5).
 *
 *   GuestQueue lane of the guest → read the pre-state fresh → precondition digest → gate (policy
 *   and the inverse, from that pre-state) → journal intent with the inverse (durable before any
 *   PVE call) → PVE call
 *   → Task(upid): journal the UPID at once → waitTask → OK / WARNINGS: N
 *   → Sync: success
 *   → verify by re-reading (status, or config with pending merged through the normalizers)
 *   → journal done
 *
 * A call whose answer does not prove PVE refused it (a 5xx, a timeout, a connection lost after
 * sending, an unreadable answer) is never sent again: the op is resolved by observing, with
 * start-up recovery's own logic applied to this one op (task-list search for our UPID, else the
 * post-state). A call PVE refused, or one that certainly never left, is journaled failed and
 * re-planned by the next pass. Digest
 * mismatch is a Conflict, never forced; a lock is a Skip naming the lock. A power action whose
 * target state the fresh read already shows is journaled done without a call (PVE would fail
 * "already running"). A gate decision may ask for an action first (the safety snapshot before a
 * rollback): it runs in the same job, as its own journaled op. Outcomes are data; `run` never
 * fails.
 *
 * Test hook: with FELHOM_TEST_PAUSE_AT=<phase> (before-call | after-call | waiting | after-task)
 * the engine writes `FELHOM_TEST_PAUSED <phase>` to stderr at that phase and blocks forever, so
 * the crash-recovery test can SIGKILL it at a precise point. Unset, it does nothing.
 */
import { Clock, Config, Context, Data, Duration, Effect, Either, Exit, Layer, Option } from "effect"
import { type Action, plannedOpId } from "../domain/Action.js"
import { recordOp } from "../domain/Metrics.js"
import type { UpidString } from "../domain/Upid.js"
import { Gate, type GateContext, type GateOrigin } from "../gate/Gate.js"
import type { PreState } from "../gate/inverse.js"
import { Pve } from "../pve/Pve.js"
import type { PveError, PveWaitError } from "../pve/PveError.js"
import { Journal } from "../state/Journal.js"
import type { JsonValue, OpDetail, OpOrigin, OpRecord } from "../state/OpRecord.js"
import { resolveOps } from "../state/Recovery.js"
import { type GuestJobKind, GuestQueue, type GuestQueueError } from "./GuestQueue.js"
import { type ReadRetry, retryRead } from "./observe.js"
import {
  callPve,
  checkPostState,
  journalAction,
  journalParams,
  nothingToSend,
  type PostStateUnknown,
  preStateOf,
  readPreState
} from "./opShape.js"
import { describeOutcome, isSuccess, type OpResult, Outcome } from "./Outcome.js"
import type { ObservedGuest } from "./plan.js"

export interface EngineOptions {
  /** `user@realm!tokenid` of the API token: journaled, and how recovery finds our tasks. */
  readonly tokenUser: string
  /** How long to wait for one task (default 10 minutes; a Stop's shutdown timeout fits well inside). */
  readonly taskDeadline?: Duration.DurationInput
  /** Retries of reads (verification, re-observation). */
  readonly readRetry?: ReadRetry
}

export interface RunOptions {
  /** The desired revision the action was planned from; part of the planned op id. */
  readonly revision: string | undefined
  /**
   * The guest as observed for the plan. Informational: the journaled pre-state and the inverse
   * come from a fresh read inside the guest's queue job, which nothing else can race.
   */
  readonly observed?: ObservedGuest
  /** Signed ops bring their envelope id; planned actions use plannedOpId. */
  readonly opId?: string
  /** The journal's origin (default "planned"). */
  readonly origin?: OpOrigin
  /** Who asks the gate; default "signed" for signed ops, else "planned". `revert` says "revert". */
  readonly gateOrigin?: GateOrigin
  /** A signed op's precondition: the config digest must still be this, or the op is a Conflict. */
  readonly precondition?: { readonly digest: string }
  /** "reconcile" (default, coalescing) or "ordered" (signed ops). */
  readonly kind?: GuestJobKind
  /** Added to the gate's policy for this action (an operator's `--allow-keys`, `--safety-snapshot`). */
  readonly gatePolicy?: GateContext["extend"]
}

export interface EngineShape {
  readonly run: (action: Action, options: RunOptions) => Effect.Effect<OpResult>
  /** Whether PVE shows the op's intended post-state; what `recover` needs at start-up. */
  readonly checkPostState: (op: OpRecord) => Effect.Effect<boolean, PveError | PostStateUnknown>
  /** For `recover`: a post-state this engine can never check is flagged, not retried forever. */
  readonly undecidable: (error: PveError | PostStateUnknown) => string | undefined
}

export class Engine extends Context.Tag("felhom/Engine")<Engine, EngineShape>() {
  static readonly layer = (options: EngineOptions): Layer.Layer<Engine, never, Pve | GuestQueue | Journal | Gate> =>
    Layer.effect(Engine, Effect.suspend(() => make(options)))
}

/** Ends a run early with its outcome; caught at the end of `run`, never escapes. */
class Stop extends Data.TaggedError("EngineStop")<{ readonly outcome: Outcome }> {}

const stop = (outcome: Outcome) => new Stop({ outcome })

const failedOf = (e: { readonly _tag: string; readonly message: string }, exitstatus?: string): Outcome =>
  Outcome.Failed({ errorTag: e._tag, message: e.message, exitstatus })

const LOCKED_RE = /\b(?:VM|CT) is locked \(([^)]+)\)/

export type PausePhase = "before-call" | "after-call" | "waiting" | "after-task"

const make = (options: EngineOptions) =>
  Effect.gen(function*() {
    const pve = yield* Pve
    const queue = yield* GuestQueue
    const journal = yield* Journal
    const gate = yield* Gate
    const pauseAt = yield* Config.option(Config.string("FELHOM_TEST_PAUSE_AT")).pipe(
      Effect.orElseSucceed(() => Option.none())
    )
    const deadline = Duration.decode(options.taskDeadline ?? Duration.minutes(10))
    const read = retryRead(options.readRetry)

    const pause = (phase: PausePhase): Effect.Effect<void> =>
      Option.contains(pauseAt, phase)
        ? Effect.zipRight(Effect.sync(() => process.stderr.write(`FELHOM_TEST_PAUSED ${phase}\n`)), Effect.never)
        : Effect.void

    const check = (op: OpRecord) => Effect.provideService(checkPostState(op), Pve, pve)
    const undecidable = (e: PveError | PostStateUnknown) => (e._tag === "PostStateUnknown" ? e.reason : undefined)

    /** Journal writes that fail leave the op unfinished: recovery resolves it later. */
    const write = <A, E extends { readonly _tag: string; readonly message: string }>(effect: Effect.Effect<A, E>) =>
      Effect.mapError(effect, (e): Stop => (e instanceof Stop ? e : stop(failedOf(e))))

    const failOp = (op: OpRecord, detail: OpDetail, outcome: Outcome) =>
      Effect.zipRight(write(journal.fail(op.opId, detail)), Effect.fail(stop(outcome)))

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
          write
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
        yield* write(journal.finish(op.opId, { message: `applied, ${detail}`, exitstatus, upids }))
        return Outcome.Applied({ upid, exitstatus, verified: Either.isRight(seen), detail })
      })

    const execute = (action: Action, op: OpRecord) =>
      Effect.gen(function*() {
        yield* pause("before-call")
        const answer = yield* Effect.either(Effect.provideService(callPve(action), Pve, pve))
        if (Either.isLeft(answer)) return yield* onCallError(op, answer.left)
        yield* pause("after-call")
        if (answer.right._tag === "Sync") return yield* verify(op, undefined, undefined)
        const upid = answer.right.upid
        yield* Effect.annotateCurrentSpan("upid", upid)
        // Journaled before waiting: a crash from here on is resolved by the UPID alone.
        yield* write(journal.recordUpid(op.opId, upid))
        yield* pause("waiting")
        const status = yield* pve.waitTask(upid, { deadline }).pipe(Effect.catchAll((e) => onWaitError(op, upid, e)))
        yield* pause("after-task")
        return yield* verify(op, upid, status.exitstatus)
      })

    /** Journals the intent with the gate's inverse; a done op id is AlreadyApplied. */
    const begin = (
      action: Action,
      opId: string,
      options: RunOptions & { readonly tokenUser: string },
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
        write
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
      options: RunOptions & { readonly tokenUser: string }
    ): Effect.Effect<Outcome, Stop> =>
      Effect.gen(function*() {
        const known = yield* write(journal.get(opId))
        if (Option.isSome(known)) {
          const phase = known.value.phase
          if (phase === "intent" || phase === "in-flight") {
            return yield* resolveUnsure(known.value, "left unfinished by an earlier run")
          }
          if (phase === "done") {
            return Outcome.AlreadyApplied()
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
          yield* write(journal.finish(opId, { message: detail }))
          return Outcome.Applied({ upid: undefined, exitstatus: undefined, verified: true, detail })
        }
        return yield* execute(effective, op)
      })

    /**
     * A planned op id names "the n-th application of this change under this revision". The plan
     * proposes an action only while the fresh observation shows it is still needed, so a done op
     * with the same base id means the guest drifted back since — and PVE digests are content-
     * based (the SHA-1 of the config file, qemu-server `PVE::QemuServer::parse_vm_config`), so even
     * a SetConfig's digest repeats. The next generation applies it
     * again. Signed ops keep their envelope id, so a replay stays AlreadyApplied.
     */
    const plannedOpIdOf = (base: string): Effect.Effect<string, Stop> => {
      const generation = (n: number): Effect.Effect<string, Stop> => {
        const id = n === 0 ? base : `${base}.${n}`
        return Effect.flatMap(write(journal.get(id)), (known) =>
          Option.isSome(known) && known.value.origin === "planned" && known.value.phase === "done"
            ? generation(n + 1)
            : Effect.succeed(id))
      }
      return generation(0)
    }

    const job = (
      action: Action,
      runOptions: RunOptions
    ): Effect.Effect<{ readonly opId: string; readonly outcome: Outcome }> =>
      Effect.gen(function*() {
        const opId = runOptions.opId ?? (yield* plannedOpIdOf(plannedOpId(action, runOptions.revision)))
        // A planned op's generation suffix is only known here, in the guest's job.
        yield* Effect.annotateCurrentSpan("op.id", opId)
        const outcome = yield* runInJob(action, opId, { ...runOptions, tokenUser: options.tokenUser }).pipe(
          Effect.catchTag("EngineStop", (s) =>
            Effect.succeed(s.outcome))
        )
        return { opId, outcome }
      }).pipe(
        Effect.catchTag("EngineStop", (s) =>
          Effect.succeed({ opId: runOptions.opId ?? plannedOpId(action, runOptions.revision), outcome: s.outcome }))
      )

    /**
     * "queue.wait": from submit until the guest's lane starts the job (or drops it). Made by hand
     * because it ends inside the job, on the queue's worker fiber; the job inherits the
     * submitter's context, so its own spans are still children of "engine.op". A disabled
     * tracer's span is born ended, and `end` is then never called.
     */
    const queued = <A, E>(
      action: Action,
      kind: GuestJobKind,
      effect: Effect.Effect<A, E>
    ): Effect.Effect<A, E | GuestQueueError> =>
      Effect.flatMap(
        Effect.makeSpan("queue.wait", {
          captureStackTrace: false,
          attributes: { vmid: action.guest.vmid, "queue.kind": kind }
        }),
        (span) => {
          const end = (exit: Exit.Exit<unknown, unknown>) =>
            Effect.flatMap(Clock.currentTimeNanos, (now) =>
              Effect.sync(() => {
                if (span.status._tag === "Started") {
                  span.end(now, exit)
                }
              }))
          return Effect.onExit(queue.submit(action.guest.vmid, kind, Effect.zipRight(end(Exit.void), effect)), end)
        }
      )

    const run = (action: Action, runOptions: RunOptions): Effect.Effect<OpResult> => {
      const baseId = runOptions.opId ?? plannedOpId(action, runOptions.revision)
      const refused = (outcome: Outcome) =>
        Effect.succeed({ opId: baseId, outcome })
      return queued(action, runOptions.kind ?? "reconcile", job(action, runOptions)).pipe(
        Effect.catchTags({
          GuestQueueSuperseded: () => refused(Outcome.Skipped({ reason: "superseded by a newer plan for this guest" })),
          GuestQueueShutdown: (e) =>
            refused(Outcome.Failed({ errorTag: e._tag, message: "the agent is shutting down", exitstatus: undefined }))
        }),
        Effect.map(({ opId, outcome }) => ({ opId, action, outcome })),
        // Once per run, planned and signed alike, whatever ended it: the op itself, or the queue
        // (superseded, shutting down).
        Effect.tap((result) => recordOp(action._tag, result.outcome._tag)),
        Effect.tap((result) => Effect.annotateCurrentSpan("outcome", result.outcome._tag)),
        Effect.annotateLogs({ opId: baseId, vmid: action.guest.vmid, action: action._tag }),
        Effect.withSpan("engine.op", {
          attributes: {
            vmid: action.guest.vmid,
            node: action.guest.node,
            action: action._tag,
            "op.id": baseId,
            "op.origin": runOptions.origin ?? "planned"
          }
        })
      )
    }

    return { run, checkPostState: check, undecidable } satisfies EngineShape
  })
