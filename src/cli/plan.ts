/**
 * `felhom-agent plan --desired FILE [--json] [--allow-keys K,…]`: what `apply` would do,
 * read-only, with each action the reversibility gate would refuse marked and how to allow it
 * (the gate policy of this environment, FELHOM_GATE_*, plus --allow-keys). Exit 0 = no
 * changes, 2 = changes planned, 1 = error (as `terraform plan -detailed-exitcode`).
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Either, Option } from "effect"
import { type DesiredState, DesiredStateInvalid } from "../domain/DesiredState.js"
import { type GatePolicy, gatePolicyConfig, parseKeyList, plannedRefusal } from "../gate/Gate.js"
import { parseDesiredBytes, readDocumentBytes } from "../reconcile/DesiredProvider.js"
import { observe } from "../reconcile/observe.js"
import { plan } from "../reconcile/plan.js"
import { type PlanReport, planReport, renderPlan } from "../reconcile/planReport.js"
import { connectionOptions, FileUnreadable, pveLayer } from "./connection.js"
import { setExitCode } from "./run.js"
import { jsonOption, stderrLogger } from "./state.js"

export const desiredOption = Options.text("desired").pipe(
  Options.withDescription("desired-state document (JSON or YAML): { revision?, guests: { VMID: { power?, config? } } }")
)

/**
 * Reads and decodes the desired document: at most 1 MiB, strict UTF-8, no duplicate keys; a bad
 * one fails naming every bad path.
 */
export const readDesired = (file: string) =>
  Effect.gen(function*() {
    const bytes = yield* readDocumentBytes(file).pipe(
      Effect.mapError((e) => new FileUnreadable({ what: "desired state file", path: file, reason: e.reason }))
    )
    return yield* Either.match(parseDesiredBytes(bytes, file), { onLeft: Effect.fail, onRight: Effect.succeed })
  })

/**
 * `--allow-keys`: config keys this run may write beyond the gate's benign defaults and the
 * configured allowlist (FELHOM_GATE_ALLOW_KEYS, or the daemon's `gate.allowKeys`).
 */
export const allowKeysOption = Options.text("allow-keys").pipe(
  Options.withDescription("comma-separated config keys the gate lets this run write beyond description, tags, onboot, name, protection, startup (env FELHOM_GATE_ALLOW_KEYS)"),
  Options.optional
)

export const keysOf = (option: Option.Option<string>): ReadonlyArray<string> =>
  Option.match(option, { onNone: () => [], onSome: parseKeyList })

/** Exit code of a plan: 0 = nothing to do, 2 = changes. */
export const planExitCode = (report: PlanReport): number => (report.actionCount > 0 ? 2 : 0)

/** Observes the cluster and reports the plan for `desired`, marking what the gate would refuse. */
export const planNow = (desired: DesiredState, gate: GatePolicy = {}, allowKeys: ReadonlyArray<string> = [], source = "the document") =>
  Effect.flatMap(observe(desired), (observed) => {
    const planned = plan(desired, observed)
    // Config PVE's schema refuses for the guest's type: the document is refused, nothing planned.
    if (planned.invalid.length > 0) return Effect.fail(new DesiredStateInvalid({ source, issues: planned.invalid }))
    return Effect.succeed(planReport(planned, observed, (action) => {
      const refused = plannedRefusal(gate, action, { allowKeys })
      return refused === undefined ? undefined : { message: refused.message, keys: refused.keys }
    }))
  })

export const planCommand = Command.make(
  "plan",
  { ...connectionOptions, desired: desiredOption, json: jsonOption, allowKeys: allowKeysOption },
  (flags) =>
    Effect.gen(function*() {
      const desired = yield* readDesired(flags.desired)
      const report = yield* planNow(desired, yield* gatePolicyConfig, keysOf(flags.allowKeys), flags.desired)
      yield* Console.log(flags.json ? JSON.stringify(report, null, 2) : renderPlan(report))
      yield* setExitCode(planExitCode(report))
    }).pipe(Effect.provide(pveLayer(flags)), Effect.provide(stderrLogger))
).pipe(Command.withDescription("preview the changes apply would make; exit 0 = none, 2 = changes, 1 = error"))
