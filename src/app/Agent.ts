/**
 * The agent's acting core, composed in one place for every process that changes PVE: the PVE
 * client over a connection, the per-guest queue, the reversibility gate, the engine (which
 * journals as the API token's user, so recovery can find our tasks) and the reconciler. The
 * daemon, `apply`, `revert`, `op submit` and the tests build it from here and differ only in
 * the edges they supply: the `PveConnection`, the stores (Stores.ts), the desired-state
 * provider, the gate policy.
 */
import { type Duration, Effect, Layer } from "effect"
import { Gate, type GatePolicy } from "../gate/Gate.js"
import { Pve } from "../pve/Pve.js"
import { PveConnection } from "../pve/PveConnection.js"
import { Engine } from "../reconcile/Engine.js"
import { GuestQueue } from "../reconcile/GuestQueue.js"
import { NodeScope, type NodeScopeOptions } from "../reconcile/NodeScope.js"
import { Reconciler, type ReconcilerOptions } from "../reconcile/Reconciler.js"
import { Selftest } from "../selftest/Selftest.js"

export interface CoreOptions {
  readonly gate?: GatePolicy
  /** Guest jobs running at once (GuestQueue). */
  readonly concurrency?: number
  /** How long the engine waits for one task. */
  readonly taskDeadline?: Duration.DurationInput
  readonly reconciler?: ReconcilerOptions
  /** Which guests the agent owns (default: node scope, learned from PVE). */
  readonly scope?: NodeScopeOptions
}

/** Queue, gate and engine; the engine journals under the connection's token user. */
export const EngineLive = (options: CoreOptions = {}) =>
  Layer.unwrapEffect(
    Effect.map(PveConnection, (connection) =>
      Engine.layer({
        tokenUser: connection.token.tokenId,
        ...(options.taskDeadline === undefined ? {} : { taskDeadline: options.taskDeadline })
      }))
  ).pipe(
    Layer.provideMerge(Layer.mergeAll(
      GuestQueue.layer(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      Gate.layer(options.gate)
    ))
  )

/** The selftest, journaling its ops under the connection's token user. */
export const SelftestLive = Layer.unwrapEffect(
  Effect.map(PveConnection, (connection) => Selftest.layer({ tokenUser: connection.token.tokenId }))
)

/**
 * Pve, node scope, queue, gate, engine, reconciler and selftest over one connection. Needs the
 * connection, the journal and a desired-state provider from the caller.
 */
export const CoreLive = (options: CoreOptions = {}) =>
  Layer.merge(Reconciler.layer(options.reconciler), SelftestLive).pipe(
    Layer.provideMerge(EngineLive(options)),
    Layer.provideMerge(NodeScope.layer(options.scope ?? { mode: "node" })),
    Layer.provideMerge(Pve.layer)
  )
