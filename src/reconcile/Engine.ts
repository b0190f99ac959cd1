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
 * This file owns the op's way into and out of the guest's lane: its op id, the queue, the span,
 * the metric. What runs inside the lane is opJob.ts, the PVE call and its answer opCall.ts.
 * Outcomes are data; `run` never fails. Each op tells `EnginePhases` where it is, which only
 * the crash tests listen to.
 */
import { Clock, Context, Duration, Effect, Exit, Layer, Option } from "effect"
import { type Action, plannedOpId } from "../domain/Action.js"
import { recordOp } from "../domain/Metrics.js"
import { Gate, type GateContext, type GateOrigin } from "../gate/Gate.js"
import { Pve } from "../pve/Pve.js"
import type { PveError } from "../pve/PveError.js"
import { Journal } from "../state/Journal.js"
import type { OpOrigin, OpRecord } from "../state/OpRecord.js"
import { EnginePhases } from "./EnginePhases.js"
import { orStop, type Stop } from "./EngineStop.js"
import { type GuestJobKind, GuestQueue, type GuestQueueError } from "./GuestQueue.js"
import { type ReadRetry, retryRead } from "./observe.js"
import { makeOpCall, type OpEnv } from "./opCall.js"
import { makeOpJob } from "./opJob.js"
import type { PostStateUnknown } from "./opShape.js"
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

const make = (options: EngineOptions) =>
  Effect.gen(function*() {
    const queue = yield* GuestQueue
    const gate = yield* Gate
    const env: OpEnv = {
      pve: yield* Pve,
      journal: yield* Journal,
      phases: yield* EnginePhases,
      deadline: Duration.decode(options.taskDeadline ?? Duration.minutes(10)),
      read: retryRead(options.readRetry)
    }
    const call = makeOpCall(env)
    const runInJob = makeOpJob(env, gate, call)

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
        return Effect.flatMap(orStop(env.journal.get(id)), (known) =>
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

    return { run, checkPostState: call.checkPostState, undecidable: call.undecidable } satisfies EngineShape
  })
