/**
 * `felhom-agent plan --desired FILE [--json]`: what `apply` would do, read-only. Exit 0 = no
 * changes, 2 = changes planned, 1 = error (as `terraform plan -detailed-exitcode`).
 */
import { Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Console, Effect, Either } from "effect"
import type { DesiredState } from "../domain/DesiredState.js"
import { parseDesiredText } from "../reconcile/DesiredProvider.js"
import { observe } from "../reconcile/observe.js"
import { plan } from "../reconcile/plan.js"
import { type PlanReport, planReport, renderPlan } from "../reconcile/planReport.js"
import { connectionOptions, FileUnreadable, pveLayer } from "./connection.js"
import { setExitCode } from "./run.js"
import { jsonOption, stderrLogger } from "./state.js"

export const desiredOption = Options.text("desired").pipe(
  Options.withDescription("desired-state document (JSON or YAML): { revision?, guests: { VMID: { power?, config? } } }")
)

/** Reads and decodes the desired document; a bad one fails naming every bad path. */
export const readDesired = (file: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((e) => new FileUnreadable({ what: "desired state file", path: file, reason: e.message }))
    )
    return yield* Either.match(parseDesiredText(text, file), { onLeft: Effect.fail, onRight: Effect.succeed })
  })

/** Exit code of a plan: 0 = nothing to do, 2 = changes. */
export const planExitCode = (report: PlanReport): number => (report.actionCount > 0 ? 2 : 0)

/** Observes the cluster and reports the plan for `desired`. */
export const planNow = (desired: DesiredState) =>
  Effect.map(observe(desired), (observed) => planReport(plan(desired, observed), observed))

export const planCommand = Command.make(
  "plan",
  { ...connectionOptions, desired: desiredOption, json: jsonOption },
  (flags) =>
    Effect.gen(function*() {
      const desired = yield* readDesired(flags.desired)
      const report = yield* planNow(desired)
      yield* Console.log(flags.json ? JSON.stringify(report, null, 2) : renderPlan(report))
      yield* setExitCode(planExitCode(report))
    }).pipe(Effect.provide(pveLayer(flags)), Effect.provide(stderrLogger))
).pipe(Command.withDescription("preview the changes apply would make; exit 0 = none, 2 = changes, 1 = error"))
