/**
 * `felhom-agent apply --desired FILE [--json]`: one reconcile pass. First every op an earlier
 * run left unfinished is resolved against PVE (start-up recovery, design.md invariant 5); if
 * one cannot be resolved, nothing runs. Then observe → plan → engine, waiting for every task.
 * Exit 0 only if every action succeeded (applied, or already applied).
 */
import { Command, Options } from "@effect/cli"
import { Console, Data, Effect, Layer, Option } from "effect"
import { Pve } from "../pve/Pve.js"
import { PveConnection } from "../pve/PveConnection.js"
import { DesiredProvider } from "../reconcile/DesiredProvider.js"
import { Engine } from "../reconcile/Engine.js"
import { Gate } from "../gate/Gate.js"
import { GuestQueue } from "../reconcile/GuestQueue.js"
import { describeOutcome, isSuccess } from "../reconcile/Outcome.js"
import { planReport, renderPlan } from "../reconcile/planReport.js"
import { type PassResult, Reconciler } from "../reconcile/Reconciler.js"
import { recover, type RecoverySummary } from "../state/Recovery.js"
import { type ConnectionFlags, connectionLayer, connectionOptions } from "./connection.js"
import { desiredOption, readDesired } from "./plan.js"
import { setExitCode } from "./run.js"
import { journalLayer, jsonOption, stateOptions, stderrLogger } from "./state.js"

export class ApplyRecoveryIncomplete extends Data.TaggedError("ApplyRecoveryIncomplete")<{ readonly unresolved: number }> {
  override get message(): string {
    return `${this.unresolved} op(s) of an earlier run could not be resolved against PVE; nothing applied (see journal list)`
  }
}

/**
 * `--allow-keys`: config keys this run may write beyond the gate's benign defaults. `apply` is
 * held to the same reversibility gate as the daemon (FELHOM_GATE_ALLOW_KEYS otherwise).
 */
export const allowKeysOption = Options.text("allow-keys").pipe(
  Options.withDescription("comma-separated config keys the gate lets this run write beyond description, tags, onboot, name, protection, startup (env FELHOM_GATE_ALLOW_KEYS)"),
  Options.optional
)

const gateLayer = (allowKeys: Option.Option<string>) =>
  Option.match(allowKeys, {
    onNone: () => Gate.layerConfig,
    onSome: (keys) => Gate.layer({ allowKeys: keys.split(",").map((k) => k.trim()).filter((k) => k !== "") })
  })

/** Pve, journal, queue, gate and engine; the engine journals under the token's user. */
export const engineStack = (flags: ConnectionFlags, stateDir: string, allowKeys: Option.Option<string> = Option.none()) => {
  const connection = connectionLayer(flags)
  const engine = Layer.unwrapEffect(Effect.map(PveConnection, (s) => Engine.layer({ tokenUser: s.token.tokenId }))).pipe(
    Layer.provide(connection)
  )
  const pve = Pve.layer.pipe(Layer.provide(connection))
  return engine.pipe(Layer.provideMerge(Layer.mergeAll(pve, journalLayer(stateDir), GuestQueue.layer(), gateLayer(allowKeys))))
}

/** Recovery first (invariant 5), then one pass. */
export const applyOnce = Effect.gen(function*() {
  const engine = yield* Engine
  const recovery = yield* recover({ checkPostState: engine.checkPostState, undecidable: engine.undecidable })
  if (recovery.counts.unresolved > 0) return yield* new ApplyRecoveryIncomplete({ unresolved: recovery.counts.unresolved })
  const pass = yield* Effect.flatMap(Reconciler, (r) => r.runOnce)
  return { recovery, pass }
})

const renderApply = (recovery: RecoverySummary, pass: PassResult): string => {
  const lines: Array<string> = []
  if (recovery.total > 0) {
    lines.push(`Recovered ${recovery.total} unfinished op(s) of an earlier run:`,
      ...recovery.outcomes.map((o) => `  ${o.opId.slice(0, 12)}  ${o.resolution}: ${o.detail.message}`), "")
  }
  lines.push(renderPlan(planReport(pass.plan, pass.observed)))
  if (pass.results.length > 0) {
    lines.push("", "Outcomes:")
    for (const r of pass.results) {
      const mark = isSuccess(r.outcome) ? "✓" : "✗"
      lines.push(`  ${mark} ${r.action.guest.type}/${r.action.guest.vmid} ${r.action._tag}  ${describeOutcome(r.outcome)}  (op ${r.opId.slice(0, 12)})`)
    }
  }
  const ok = pass.results.filter((r) => isSuccess(r.outcome)).length
  lines.push("", `${ok}/${pass.results.length} action(s) succeeded in ${pass.durationMillis} ms`)
  return lines.join("\n")
}

const toJson = (recovery: RecoverySummary, pass: PassResult) => ({
  recovery,
  plan: planReport(pass.plan, pass.observed),
  results: pass.results.map((r) => ({ opId: r.opId, vmid: r.action.guest.vmid, action: r.action._tag, outcome: r.outcome })),
  succeeded: pass.results.every((r) => isSuccess(r.outcome))
})

export const applyCommand = Command.make(
  "apply",
  { ...connectionOptions, ...stateOptions, desired: desiredOption, json: jsonOption, allowKeys: allowKeysOption },
  (flags) =>
    Effect.gen(function*() {
      const desired = yield* readDesired(flags.desired)
      const layer = Reconciler.layer().pipe(
        Layer.provideMerge(engineStack(flags, flags.stateDir, flags.allowKeys)),
        Layer.provide(DesiredProvider.Static(desired))
      )
      const { recovery, pass } = yield* Effect.provide(applyOnce, layer)
      yield* Console.log(flags.json ? JSON.stringify(toJson(recovery, pass), null, 2) : renderApply(recovery, pass))
      yield* setExitCode(pass.results.every((r) => isSuccess(r.outcome)) ? 0 : 1)
    }).pipe(Effect.provide(stderrLogger))
).pipe(Command.withDescription("run one reconcile pass (after resolving any unfinished op); exit 0 only if every action succeeded"))
