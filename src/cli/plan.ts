/**
 * `felhom-agent plan --desired FILE [--json] [--allow-keys K,…]`: what `apply` would do,
 * read-only, with each action the reversibility gate would refuse marked and how to allow it
 * (the gate policy of this environment, FELHOM_GATE_*, plus --allow-keys). Exit 0 = no
 * changes, 2 = changes planned, 1 = error (as `terraform plan -detailed-exitcode`).
 */
import { Console, Effect, Either, Layer, Option } from "effect"
import { type DesiredState, DesiredStateInvalid } from "../domain/DesiredState.js"
import { type GatePolicy, gatePolicyConfig, parseKeyList, plannedRefusal } from "../gate/Gate.js"
import { parseDesiredBytes, readDocumentBytes } from "../reconcile/DesiredProvider.js"
import { NodeScope, nodeScopeConfig } from "../reconcile/NodeScope.js"
import { observe } from "../reconcile/observe.js"
import { plan } from "../reconcile/plan.js"
import { type PlanReport, planReport, renderPlan } from "../reconcile/planReport.js"
import type { PlanFlags } from "./commands/plan.js"
import { FileUnreadable, pveLayer } from "./connectionLayer.js"
import { setExitCode } from "./run.js"

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

export const keysOf = (option: Option.Option<string>): ReadonlyArray<string> =>
  Option.match(option, { onNone: () => [], onSome: parseKeyList })

/** Exit code of a plan: 0 = nothing to do, 2 = changes. */
export const planExitCode = (report: PlanReport): number => (report.actionCount > 0 ? 2 : 0)

/** Observes the cluster and reports the plan for `desired`, marking what the gate would refuse. */
export const planNow = (
  desired: DesiredState,
  gate: GatePolicy = {},
  allowKeys: ReadonlyArray<string> = [],
  source = "the document"
) =>
  Effect.flatMap(
    Effect.flatMap(NodeScope, (scope) => scope.current),
    ({ node }) =>
      Effect.flatMap(observe(desired, {}, node), (observed) => {
        const planned = plan(desired, observed, { node })
        // Config PVE's schema refuses for the guest's type: the document is refused, nothing planned.
        if (planned.invalid.length > 0) return Effect.fail(new DesiredStateInvalid({ source, issues: planned.invalid }))
        return Effect.succeed(planReport(planned, observed, (action) => {
          const refused = plannedRefusal(gate, action, { allowKeys })
          return refused === undefined ? undefined : { message: refused.message, keys: refused.keys }
        }))
      })
  )

/** The body of `felhom-agent plan` (commands/plan.ts). */
export const planHandler = (flags: PlanFlags) =>
  Effect.gen(function*() {
    const desired = yield* readDesired(flags.desired)
    const report = yield* planNow(desired, yield* gatePolicyConfig, keysOf(flags.allowKeys), flags.desired)
    yield* Console.log(flags.json ? JSON.stringify(report, null, 2) : renderPlan(report))
    yield* setExitCode(planExitCode(report))
  }).pipe(
    Effect.provide(
      Layer.unwrapEffect(Effect.map(nodeScopeConfig, NodeScope.layer)).pipe(Layer.provideMerge(pveLayer(flags)))
    )
  )
