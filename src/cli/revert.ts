/**
 * `felhom-agent revert OP_ID [--json]`: undoes a journaled op by running its inverse (gate/
 * revert.ts) as its own journaled op `revert:<OP_ID>`. Like `apply`, it first resolves any op
 * an earlier run left unfinished (design.md invariant 5). Exit 0 only when the op is reverted.
 *
 * Also home of `opEngineStack`, the layers `revert` and `op submit` share: one state database
 * for the journal and the nonce store, the engine, the queue and the configured gate.
 */
import { Args, Command, Options } from "@effect/cli"
import { type ConfigError, Console, Effect, Layer } from "effect"
import { Gate, gatePolicyConfig, makeGate } from "../gate/Gate.js"
import { revertOp, reverted } from "../gate/revert.js"
import { Pve } from "../pve/Pve.js"
import { PveConnection } from "../pve/PveConnection.js"
import { Engine } from "../reconcile/Engine.js"
import { GuestQueue } from "../reconcile/GuestQueue.js"
import { describeOutcome, type OpResult } from "../reconcile/Outcome.js"
import { Journal } from "../state/Journal.js"
import { NonceStore } from "../state/NonceStore.js"
import { recover } from "../state/Recovery.js"
import { StateStore } from "../state/StateStore.js"
import { ApplyRecoveryIncomplete } from "./apply.js"
import { type ConnectionFlags, connectionLayer, connectionOptions } from "./connection.js"
import { setExitCode } from "./run.js"
import { jsonOption, stateDbPath, stateOptions, stderrLogger } from "./state.js"

export const safetySnapshotOption = Options.boolean("safety-snapshot").pipe(
  Options.withDescription("take a safety snapshot before a rollback, making it revertible (env FELHOM_GATE_SAFETY_SNAPSHOT)")
)

/** The gate policy of the environment (FELHOM_GATE_*), with the flag able to turn safety snapshots on. */
export const gateLayer = (safetySnapshot: boolean) =>
  Layer.effect(Gate, Effect.map(gatePolicyConfig, (p) => makeGate({ ...p, safetySnapshot: p.safetySnapshot || safetySnapshot })))

/** Pve, journal + nonce store over one state.db, queue, gate and engine (journaling as the token's user). */
export const opEngineStack = (flags: ConnectionFlags, stateDir: string, gate: Layer.Layer<Gate, ConfigError.ConfigError>) => {
  const connection = connectionLayer(flags)
  const stores = Layer.mergeAll(Journal.layer, NonceStore.layer()).pipe(
    Layer.provideMerge(StateStore.layer({ filename: stateDbPath(stateDir) }))
  )
  const engine = Layer.unwrapEffect(Effect.map(PveConnection, (s) => Engine.layer({ tokenUser: s.token.tokenId }))).pipe(
    Layer.provide(connection)
  )
  const pve = Pve.layer.pipe(Layer.provide(connection))
  return engine.pipe(Layer.provideMerge(Layer.mergeAll(pve, stores, GuestQueue.layer(), gate)))
}

/** Start-up recovery before anything new runs; refuses to continue past an unresolved op. */
export const recoverFirst = Effect.gen(function*() {
  const engine = yield* Engine
  const recovery = yield* recover({ checkPostState: engine.checkPostState, undecidable: engine.undecidable })
  if (recovery.counts.unresolved > 0) return yield* new ApplyRecoveryIncomplete({ unresolved: recovery.counts.unresolved })
  return recovery
})

export const resultLine = (r: OpResult): string =>
  `${r.action.guest.type}/${r.action.guest.vmid} ${r.action._tag}  ${describeOutcome(r.outcome)}  (op ${r.opId})`

export const revertCommand = Command.make(
  "revert",
  { ...connectionOptions, ...stateOptions, opId: Args.text({ name: "OP_ID" }), json: jsonOption, safetySnapshot: safetySnapshotOption },
  (flags) =>
    Effect.gen(function*() {
      const result = yield* Effect.zipRight(recoverFirst, revertOp(flags.opId))
      const ok = reverted(result)
      yield* Console.log(flags.json
        ? JSON.stringify({ opId: result.opId, reverts: flags.opId, action: result.action._tag, outcome: result.outcome, reverted: ok }, null, 2)
        : `${ok ? "✓ reverted" : "✗ not reverted"}: ${resultLine(result)}`)
      yield* setExitCode(ok ? 0 : 1)
    }).pipe(
      Effect.provide(opEngineStack(flags, flags.stateDir, gateLayer(flags.safetySnapshot))),
      Effect.provide(stderrLogger)
    )
).pipe(Command.withDescription("undo a done op by running its journaled inverse as a new journaled op revert:OP_ID"))
