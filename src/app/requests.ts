/**
 * What the acting commands do — apply a desired document, revert an op, run a signed op — as
 * effects over the agent's services. Each answers the command's whole output: its exit code,
 * the text a person reads, and the one JSON document `--json` prints. The CLI runs them in its
 * own process when no daemon runs; the daemon runs the very same ones for the CLI over its
 * control socket, so an operator sees the same lines and exit codes either way.
 */
import { Data, Effect, Option } from "effect"
import type { SignedOps } from "../authz/SignedOps.js"
import { type SubmitRefused, submitSignedOp } from "../authz/submit.js"
import { type DesiredState, DesiredStateInvalid } from "../domain/DesiredState.js"
import type { Pve } from "../pve/Pve.js"
import { Engine } from "../reconcile/Engine.js"
import type { NodeScope } from "../reconcile/NodeScope.js"
import { describeOutcome, isSuccess, type OpResult } from "../reconcile/Outcome.js"
import { planReport, renderPlan } from "../reconcile/planReport.js"
import { type PassError, type PassResult, Reconciler } from "../reconcile/Reconciler.js"
import { reverted, type RevertError, revertOp } from "../reconcile/revert.js"
import { renderJson, renderMarkdown } from "../selftest/report.js"
import { Selftest, type SelftestOptions } from "../selftest/Selftest.js"
import type { Journal } from "../state/Journal.js"
import type { JournalWriteError } from "../state/JournalError.js"
import { recover, type RecoverySummary } from "../state/Recovery.js"

export interface CommandOutput {
  readonly exitCode: number
  readonly text: string
  readonly json: unknown
  /** When the command fails, the one line that says why (stderr, after the output). */
  readonly error?: string
}

/** What a process that did not run before must do first: resolve what an earlier run left. */
export class RecoveryIncomplete extends Data.TaggedError("RecoveryIncomplete")<{ readonly unresolved: number }> {
  override get message(): string {
    return `${this.unresolved} op(s) of an earlier run could not be resolved against PVE; nothing applied (see journal list)`
  }
}

export const NO_RECOVERY: RecoverySummary = {
  total: 0,
  counts: { "done": 0, "failed": 0, "needs-operator": 0, "unresolved": 0 },
  outcomes: []
}

/** Start-up recovery (state/Recovery.ts); refuses to go on past an unresolved op. */
export const recoverFirst: Effect.Effect<
  RecoverySummary,
  RecoveryIncomplete | JournalWriteError,
  Engine | Journal | Pve
> = Effect.gen(function*() {
  const engine = yield* Engine
  const recovery = yield* recover({ checkPostState: engine.checkPostState, undecidable: engine.undecidable })
  if (recovery.counts.unresolved > 0) return yield* new RecoveryIncomplete({ unresolved: recovery.counts.unresolved })
  return recovery
})

// apply -----------------------------------------------------------------------------------

const renderApply = (recovery: RecoverySummary, pass: PassResult): string => {
  const lines: Array<string> = []
  if (recovery.total > 0) {
    lines.push(
      `Recovered ${recovery.total} unfinished op(s) of an earlier run:`,
      ...recovery.outcomes.map((o) => `  ${o.opId.slice(0, 12)}  ${o.resolution}: ${o.detail.message}`),
      ""
    )
  }
  lines.push(renderPlan(planReport(pass.plan, pass.observed)))
  if (pass.results.length > 0) {
    lines.push("", "Outcomes:")
    for (const r of pass.results) {
      const mark = isSuccess(r.outcome) ? "✓" : "✗"
      lines.push(
        `  ${mark} ${r.action.guest.type}/${r.action.guest.vmid} ${r.action._tag}  ${describeOutcome(r.outcome)}  (op ${
          r.opId.slice(0, 12)
        })`
      )
    }
  }
  const ok = pass.results.filter((r) => isSuccess(r.outcome)).length
  lines.push("", `${ok}/${pass.results.length} action(s) succeeded in ${pass.durationMillis} ms`)
  return lines.join("\n")
}

const applyJson = (recovery: RecoverySummary, pass: PassResult) => ({
  recovery,
  plan: planReport(pass.plan, pass.observed),
  results: pass.results.map((r) => ({
    opId: r.opId,
    vmid: r.action.guest.vmid,
    action: r.action._tag,
    outcome: r.outcome
  })),
  succeeded: pass.results.every((r) => isSuccess(r.outcome))
})

/** One reconcile pass over `desired`; exit 0 only if every action succeeded. */
export const applyRequest = (
  desired: DesiredState,
  options: {
    readonly allowKeys?: ReadonlyArray<string>
    readonly recovery?: RecoverySummary
    readonly source?: string
  } = {}
): Effect.Effect<CommandOutput, PassError | DesiredStateInvalid, Reconciler> =>
  Effect.gen(function*() {
    const recovery = options.recovery ?? NO_RECOVERY
    const reconciler = yield* Reconciler
    const pass = yield* reconciler.runWith(
      desired,
      options.allowKeys === undefined || options.allowKeys.length === 0
        ? {}
        : { gatePolicy: { allowKeys: options.allowKeys } }
    )
    // The plan ran no action: PVE's schema refuses part of the document for a guest's type.
    if (pass.plan.invalid.length > 0) {
      return yield* new DesiredStateInvalid({
        source: options.source ?? "the desired document",
        issues: pass.plan.invalid
      })
    }
    return {
      exitCode: pass.results.every((r) => isSuccess(r.outcome)) ? 0 : 1,
      text: renderApply(recovery, pass),
      json: applyJson(recovery, pass)
    }
  })

// revert and op submit ---------------------------------------------------------------------

export const resultLine = (r: OpResult): string =>
  `${r.action.guest.type}/${r.action.guest.vmid} ${r.action._tag}  ${describeOutcome(r.outcome)}  (op ${r.opId})`

/** Undoes a done op by running its journaled inverse; exit 0 only when it is undone. */
export const revertRequest = (
  opId: string
): Effect.Effect<CommandOutput, RevertError, Journal | Engine | Pve | NodeScope> =>
  Effect.map(revertOp(opId), (result) => {
    const ok = reverted(result)
    return {
      exitCode: ok ? 0 : 1,
      text: `${ok ? "✓ reverted" : "✗ not reverted"}: ${resultLine(result)}`,
      json: {
        opId: result.opId,
        reverts: result.opId.slice("revert:".length),
        action: result.action._tag,
        outcome: result.outcome,
        reverted: ok
      }
    }
  })

/** Runs a signed op envelope as the hub loop would; exit 0 only on Applied or AlreadyApplied. */
export const submitRequest = (
  envelope: Uint8Array,
  options: { readonly safetySnapshot?: boolean } = {}
): Effect.Effect<CommandOutput, SubmitRefused, SignedOps | Engine | Pve | NodeScope> =>
  Effect.map(
    submitSignedOp(
      envelope,
      Option.fromNullable(options.safetySnapshot === true ? { safetySnapshot: true } : undefined)
    ),
    (result) => {
      const ok = isSuccess(result.outcome)
      return {
        exitCode: ok ? 0 : 1,
        text: `${ok ? "✓" : "✗"} ${resultLine(result)}`,
        json: {
          opId: result.opId,
          seq: result.op.seq,
          keyid: result.keyid,
          action: result.action._tag,
          outcome: result.outcome
        }
      }
    }
  )

// selftest -----------------------------------------------------------------------------------

/** The live exercises of a test guest; text is the Markdown report; exit 0 only if every task passed. */
export const selftestRequest = (options: SelftestOptions): Effect.Effect<CommandOutput, never, Selftest> =>
  Effect.map(Effect.flatMap(Selftest, (s) => s.run(options)), (report) => {
    const failed = report.tasks.find((t) => t.status === "failed")
    const why = report.reason ??
      (failed === undefined ? "see the report" : `task ${failed.task}: ${failed.reason ?? "failed"}`)
    return {
      exitCode: report.verdict === "pass" ? 0 : 1,
      text: renderMarkdown(report),
      json: JSON.parse(renderJson(report)) as unknown,
      ...(report.verdict === "pass"
        ? {}
        : { error: `selftest ${report.verdict === "refused" ? "refused" : "failed"} on guest ${report.vmid}: ${why}` })
    }
  })
