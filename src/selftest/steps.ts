/**
 * How a selftest step runs and is recorded. Every step — a read, an assertion or a mutation —
 * becomes one `StepRecord` with its timing, so the report shows exactly what happened even
 * when a later step fails. Mutations are also journaled (intent → UPID → done/failed,
 * docs/architecture.md, invariant 5), so a selftest cut short by a crash shows up in the journal
 * and at recovery.
 */
import { Data, Duration, Effect, Ref } from "effect"
import type { GuestRef } from "../domain/Guest.js"
import type { MutationResult, PveShape } from "../pve/Pve.js"
import type { PveError } from "../pve/PveError.js"
import type { JournalShape } from "../state/Journal.js"
import type { JsonValue, OpDetail } from "../state/OpRecord.js"

/** The tasks that touch the guest; `permissions` is the preflight alone. */
export type MutatingTask = "snapshot" | "config"
export type TaskName = "permissions" | MutatingTask

export interface StepRecord {
  /** "preflight", "guest", or the task the step belongs to. */
  readonly task: string
  readonly step: string
  readonly ok: boolean
  readonly ms: number
  readonly detail: string
  readonly upid?: string | undefined
  /** PVE's exit status (`OK`, `WARNINGS: N`, the error text), or `sync` for a synchronous answer. */
  readonly exitstatus?: string | undefined
  readonly opId?: string | undefined
  /** A step run to put the guest back after a failure. */
  readonly cleanup: boolean
}

/** A step did not do what the selftest asserts; `reason` is the one line for the report. */
export class SelftestStepFailed extends Data.TaggedError("SelftestStepFailed")<{
  readonly task: string
  readonly step: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.task}: ${this.step} failed: ${this.reason}`
  }
}

export interface StepContext {
  readonly pve: PveShape
  readonly journal: JournalShape
  readonly guest: GuestRef
  readonly tokenUser: string
  /** Unique per run: op ids and the snapshot name derive from it. */
  readonly runId: string
  readonly waitDeadline: Duration.DurationInput
  readonly steps: Ref.Ref<ReadonlyArray<StepRecord>>
}

export interface Described<A> {
  readonly value: A
  readonly detail: string
}

interface WithMessage {
  readonly message: string
}

const append = (ctx: Pick<StepContext, "steps">, record: StepRecord) => Ref.update(ctx.steps, (all) => [...all, record])

/** What an assertion found instead of what it expected; the message is the report line. */
export class SelftestMismatch extends Data.TaggedError("SelftestMismatch")<{ readonly reason: string }> {
  override get message(): string {
    return this.reason
  }
}

/** A read or an assertion: recorded with its timing; any error becomes `SelftestStepFailed`. */
export const check = <A, E extends WithMessage>(
  ctx: Pick<StepContext, "steps">,
  meta: { readonly task: string; readonly step: string; readonly cleanup?: boolean },
  effect: Effect.Effect<Described<A>, E>
): Effect.Effect<A, SelftestStepFailed> =>
  Effect.gen(function*() {
    const [elapsed, result] = yield* Effect.timed(Effect.either(effect))
    const ms = Math.round(Duration.toMillis(elapsed))
    const cleanup = meta.cleanup ?? false
    if (result._tag === "Left") {
      yield* append(ctx, { task: meta.task, step: meta.step, ok: false, ms, detail: result.left.message, cleanup })
      return yield* new SelftestStepFailed({ task: meta.task, step: meta.step, reason: result.left.message })
    }
    yield* append(ctx, { task: meta.task, step: meta.step, ok: true, ms, detail: result.right.detail, cleanup })
    return result.right.value
  })

/** Succeeds with `value` when `holds`, else fails with `reason` (for use inside `check`). */
export const expectThat = <A>(
  holds: boolean,
  value: Described<A>,
  reason: string
): Effect.Effect<Described<A>, SelftestMismatch> =>
  holds ? Effect.succeed(value) : Effect.fail(new SelftestMismatch({ reason }))

export interface Mutation {
  readonly task: MutatingTask
  readonly step: string
  /** Journal action name, e.g. `selftest-snapshot-create`. */
  readonly action: string
  readonly params: JsonValue
  readonly preState: JsonValue
  readonly preDigest: string | null
  readonly inverse: JsonValue | null
  readonly call: Effect.Effect<MutationResult, PveError>
  readonly cleanup?: boolean
}

export interface MutationOutcome {
  readonly upid: string | undefined
  readonly exitstatus: string
}

const detailOf = (
  error: WithMessage & { readonly _tag?: string },
  upid: string | undefined,
  exitstatus?: string
): OpDetail => ({
  message: error.message,
  ...(error._tag === undefined ? {} : { errorTag: error._tag }),
  ...(exitstatus === undefined ? {} : { exitstatus }),
  ...(upid === undefined ? {} : { upids: [upid] })
})

/**
 * One journaled PVE mutation: intent, the call, the UPID, the wait, done or failed. A task
 * must end `OK` or `WARNINGS: N` (pve-common `PVE::UPID::status_is_error`; `waitTask` enforces
 * it); a synchronous answer is success too (docs/architecture.md, invariant 4) and is recorded
 * as `sync`.
 */
export const mutate = (ctx: StepContext, m: Mutation): Effect.Effect<MutationOutcome, SelftestStepFailed> =>
  Effect.gen(function*() {
    const seq = (yield* Ref.get(ctx.steps)).length
    const opId = `selftest-${ctx.runId}-${seq}-${m.action}`
    // Known only once PVE answers; kept outside the Effect so a failed wait can still name it.
    let upid: string | undefined
    let exitstatus: string | undefined
    const run = Effect.gen(function*() {
      yield* ctx.journal.intent({
        opId,
        origin: "planned",
        vmid: ctx.guest.vmid,
        node: ctx.guest.node,
        guestType: ctx.guest.type,
        action: m.action,
        params: m.params,
        preState: m.preState,
        preDigest: m.preDigest,
        inverse: m.inverse,
        tokenUser: ctx.tokenUser
      })
      const result = yield* m.call
      if (result._tag === "Sync") {
        exitstatus = "sync"
        yield* ctx.journal.finish(opId, { message: "synchronous success (no task)" })
        return { value: { upid: undefined, exitstatus: "sync" }, detail: "synchronous success (no task)" }
      }
      upid = result.upid
      yield* ctx.journal.recordUpid(opId, result.upid)
      const status = yield* ctx.pve.waitTask(result.upid, { deadline: ctx.waitDeadline }).pipe(
        Effect.tapError((e) =>
          Effect.sync(() => {
            if (e._tag === "PveTaskFailed") exitstatus = e.exitstatus
          })
        )
      )
      exitstatus = status.exitstatus ?? "unknown"
      yield* ctx.journal.finish(opId, { message: `task ${exitstatus}`, exitstatus, upids: [result.upid] })
      return { value: { upid: result.upid, exitstatus }, detail: `task ${exitstatus}` }
    }).pipe(
      Effect.tapError((e) =>
        // The op must not stay `intent`/`in-flight`; if even that write fails, say so loudly.
        ctx.journal.fail(opId, detailOf(e, upid, exitstatus)).pipe(
          Effect.catchAll((je) =>
            Effect.logWarning(`selftest: could not journal the failure of ${opId}: ${je.message}`)
          )
        )
      )
    )
    const [elapsed, result] = yield* Effect.timed(Effect.either(run))
    const ms = Math.round(Duration.toMillis(elapsed))
    const base = { task: m.task, step: m.step, ms, upid, exitstatus, opId, cleanup: m.cleanup ?? false }
    if (result._tag === "Left") {
      yield* append(ctx, { ...base, ok: false, detail: result.left.message })
      return yield* new SelftestStepFailed({ task: m.task, step: m.step, reason: result.left.message })
    }
    yield* append(ctx, { ...base, ok: true, detail: result.right.detail })
    return result.right.value
  })
