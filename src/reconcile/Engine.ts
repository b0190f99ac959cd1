/**
 * Engine: runs one action, exactly once in effect (design.md invariants 4 and 5).
 *
 *   gate → GuestQueue lane of the guest → journal intent (durable before any PVE call) → PVE call
 *   → Task(upid): journal the UPID at once → waitTask → OK / WARNINGS: N
 *   → Sync: success
 *   → verify by re-reading (status, or config with pending merged through the normalizers)
 *   → journal done
 *
 * A call whose request may have reached PVE (transport error after sending, timeout) is never
 * sent again: the op is resolved by re-observing, with start-up recovery's own logic applied to
 * this one op (task-list search for our UPID, else the post-state). A call PVE refused, or one
 * that certainly never left, is journaled failed and re-planned by the next pass. Digest
 * mismatch is a Conflict, never forced; a lock is a Skip naming the lock. Outcomes are data;
 * `run` never fails.
 *
 * Test hook: with FELHOM_TEST_PAUSE_AT=<phase> (before-call | after-call | waiting | after-task)
 * the engine writes `FELHOM_TEST_PAUSED <phase>` to stderr at that phase and blocks forever, so
 * the crash-recovery test can SIGKILL it at a precise point. Unset, it does nothing.
 */
import { Config, Context, Data, Duration, Effect, Either, Layer, Option } from "effect"
import { type Action, plannedOpId } from "../domain/Action.js"
import type { UpidString } from "../domain/Upid.js"
import { MutationResult, Pve } from "../pve/Pve.js"
import type { PveError, PveWaitError } from "../pve/PveError.js"
import { Journal } from "../state/Journal.js"
import type { OpDetail, OpOrigin, OpRecord } from "../state/OpRecord.js"
import { recover } from "../state/Recovery.js"
import { Gate } from "./Gate.js"
import { GuestQueue, type GuestJobKind } from "./GuestQueue.js"
import { retryRead, type ReadRetry } from "./observe.js"
import { checkPostState, journalAction, journalParams, type PostStateUnknown, preStateOf } from "./opShape.js"
import { type OpResult, Outcome } from "./Outcome.js"
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
  /** The guest as observed for the plan: its pre-state is journaled with the intent. */
  readonly observed?: ObservedGuest
  /** Signed ops bring their envelope id; planned actions use plannedOpId. */
  readonly opId?: string
  readonly origin?: OpOrigin
  /** "reconcile" (default, coalescing) or "ordered" (signed ops). */
  readonly kind?: GuestJobKind
}

export interface EngineShape {
  readonly run: (action: Action, options: RunOptions) => Effect.Effect<OpResult>
  /** Whether PVE shows the op's intended post-state; what `recover` needs at start-up. */
  readonly checkPostState: (op: OpRecord) => Effect.Effect<boolean, PveError | PostStateUnknown>
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
    const pauseAt = yield* Config.option(Config.string("FELHOM_TEST_PAUSE_AT")).pipe(Effect.orElseSucceed(() => Option.none()))
    const deadline = Duration.decode(options.taskDeadline ?? Duration.minutes(10))
    const read = retryRead(options.readRetry)

    const pause = (phase: PausePhase): Effect.Effect<void> =>
      Option.contains(pauseAt, phase)
        ? Effect.zipRight(Effect.sync(() => process.stderr.write(`FELHOM_TEST_PAUSED ${phase}\n`)), Effect.never)
        : Effect.void

    const check = (op: OpRecord) => Effect.provideService(checkPostState(op), Pve, pve)

    /** Journal writes that fail leave the op unfinished: recovery resolves it later. */
    const write = <A, E extends { readonly _tag: string; readonly message: string }>(effect: Effect.Effect<A, E>) =>
      Effect.mapError(effect, (e): Stop => (e instanceof Stop ? e : stop(failedOf(e))))

    const failOp = (op: OpRecord, detail: OpDetail, outcome: Outcome) =>
      Effect.zipRight(write(journal.fail(op.opId, detail)), Effect.fail(stop(outcome)))

    /**
     * The call may or may not have reached PVE: resolve this one op exactly as start-up
     * recovery would (task list, then post-state), by showing `recover` a journal whose only
     * unfinished op is this one.
     */
    const resolveUnsure = (op: OpRecord, why: string) =>
      Effect.gen(function*() {
        yield* Effect.logWarning("outcome unknown; re-observing, never re-sending").pipe(Effect.annotateLogs({ opId: op.opId, why }))
        const scoped: typeof journal = { ...journal, unfinished: Effect.succeed([op]) }
        const summary = yield* recover({ checkPostState: check, waitDeadline: deadline }).pipe(
          Effect.provideService(Journal, scoped),
          Effect.provideService(Pve, pve),
          write
        )
        const result = summary.outcomes[0]
        if (result === undefined) return yield* stop(Outcome.Failed({ errorTag: "Unresolved", message: why, exitstatus: undefined }))
        const d = result.detail
        switch (result.resolution) {
          case "done": {
            const verified = yield* Effect.orElseSucceed(read(check(op)), () => false)
            return Outcome.Applied({ upid: d.upids?.[0], exitstatus: d.exitstatus, verified, detail: `${why}; ${d.message}` })
          }
          case "failed":
            return Outcome.Failed({ errorTag: "NotApplied", message: `${why}; ${d.message}`, exitstatus: d.exitstatus })
          case "needs-operator":
            return Outcome.Skipped({ reason: `needs an operator: ${d.message}` })
          case "unresolved":
            return Outcome.Failed({ errorTag: "Unresolved", message: `${why}; ${d.message}`, exitstatus: undefined })
        }
      })

    /** PVE answered an error to the mutation itself. */
    const onCallError = (op: OpRecord, e: PveError) => {
      const detail: OpDetail = { message: e.message, errorTag: e._tag }
      switch (e._tag) {
        case "PveDigestMismatch":
          return failOp(op, detail, Outcome.Conflict({ detail: `${e.message}; re-planned next pass, never forced` }))
        case "PveGuestLocked":
          return failOp(op, detail, Outcome.Skipped({ reason: `locked (${e.lock})` }))
        case "PveTimeout":
          return resolveUnsure(op, e.message)
        case "PveTransport":
          return e.requestSent ? resolveUnsure(op, e.message) : failOp(op, detail, failedOf(e))
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
          return yield* failOp(op, { message, exitstatus, upids, errorTag: "VerifyFailed" }, Outcome.Failed({ errorTag: "VerifyFailed", message, exitstatus }))
        }
        const detail = Either.isRight(seen) ? "verified" : `verification read failed: ${seen.left.message}`
        yield* write(journal.finish(op.opId, { message: `applied, ${detail}`, exitstatus, upids }))
        return Outcome.Applied({ upid, exitstatus, verified: Either.isRight(seen), detail })
      })

    const call = (action: Action): Effect.Effect<MutationResult, PveError> => {
      switch (action._tag) {
        case "Start":
          return pve.power(action.guest, "start")
        case "Stop":
          return pve.power(action.guest, "shutdown", { timeout: action.shutdownTimeout, forceStop: true })
        case "SetConfig":
          return pve.setConfig(action.guest, { set: action.set, delete: action.delete, digest: action.digest })
      }
    }

    const execute = (action: Action, op: OpRecord) =>
      Effect.gen(function*() {
        yield* pause("before-call")
        const answer = yield* Effect.either(call(action))
        if (Either.isLeft(answer)) return yield* onCallError(op, answer.left)
        yield* pause("after-call")
        if (answer.right._tag === "Sync") return yield* verify(op, undefined, undefined)
        const upid = answer.right.upid
        // Journaled before waiting: a crash from here on is resolved by the UPID alone.
        yield* write(journal.recordUpid(op.opId, upid))
        yield* pause("waiting")
        const status = yield* pve.waitTask(upid, { deadline }).pipe(Effect.catchAll((e) => onWaitError(op, upid, e)))
        yield* pause("after-task")
        return yield* verify(op, upid, status.exitstatus)
      })

    /** Journals the intent, or finds the op already known: done, flagged, or left unfinished. */
    const begin = (action: Action, opId: string, options: RunOptions, tokenUser: string) =>
      Effect.gen(function*() {
        const known = yield* write(journal.get(opId))
        if (Option.isSome(known) && (known.value.phase === "intent" || known.value.phase === "in-flight")) {
          return { _tag: "Unfinished" as const, op: known.value }
        }
        const { inverse } = yield* gate.check(action, options.observed).pipe(
          Effect.mapError((e) => stop(Outcome.Skipped({ reason: e.message })))
        )
        const op = yield* journal.intent({
          opId,
          origin: options.origin ?? "planned",
          vmid: action.guest.vmid,
          node: action.guest.node,
          guestType: action.guest.type,
          action: journalAction(action),
          params: journalParams(action),
          preState: preStateOf(action, options.observed),
          preDigest: action._tag === "SetConfig" ? action.digest : options.observed?.config?.digest ?? null,
          inverse,
          tokenUser
        }).pipe(
          Effect.catchTags({
            JournalAlreadyApplied: () => Effect.fail(stop(Outcome.AlreadyApplied())),
            JournalNeedsOperator: (e) => Effect.fail(stop(Outcome.Skipped({ reason: e.message })))
          }),
          write
        )
        return { _tag: "Fresh" as const, op }
      })

    /**
     * A planned op id names "the n-th application of this change under this revision". The plan
     * proposes an action only while the fresh observation shows it is still needed, so a done op
     * with the same base id means the guest drifted back since — and PVE digests are content-
     * based (pve-api.md §8), so even a SetConfig's digest repeats. The next generation applies it
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

    const job = (action: Action, runOptions: RunOptions): Effect.Effect<{ readonly opId: string; readonly outcome: Outcome }> =>
      Effect.gen(function*() {
        const opId = runOptions.opId ?? (yield* plannedOpIdOf(plannedOpId(action, runOptions.revision)))
        const outcome = yield* Effect.gen(function*() {
          const started = yield* begin(action, opId, runOptions, options.tokenUser)
          if (started._tag === "Unfinished") return yield* resolveUnsure(started.op, "left unfinished by an earlier run")
          return yield* execute(action, started.op)
        }).pipe(Effect.catchTag("EngineStop", (s) => Effect.succeed(s.outcome)))
        return { opId, outcome }
      }).pipe(
        Effect.catchTag("EngineStop", (s) =>
          Effect.succeed({ opId: runOptions.opId ?? plannedOpId(action, runOptions.revision), outcome: s.outcome }))
      )

    const run = (action: Action, runOptions: RunOptions): Effect.Effect<OpResult> => {
      const baseId = runOptions.opId ?? plannedOpId(action, runOptions.revision)
      const refused = (outcome: Outcome) => Effect.succeed({ opId: baseId, outcome })
      return queue.submit(action.guest.vmid, runOptions.kind ?? "reconcile", job(action, runOptions)).pipe(
        Effect.catchTags({
          GuestQueueSuperseded: () => refused(Outcome.Skipped({ reason: "superseded by a newer plan for this guest" })),
          GuestQueueShutdown: (e) => refused(Outcome.Failed({ errorTag: e._tag, message: "the agent is shutting down", exitstatus: undefined }))
        }),
        Effect.map(({ opId, outcome }) => ({ opId, action, outcome })),
        Effect.annotateLogs({ opId: baseId, vmid: action.guest.vmid, action: action._tag })
      )
    }

    return { run, checkPostState: check } satisfies EngineShape
  })
