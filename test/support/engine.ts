/**
 * The engine's stack as app/Agent.ts composes it, over whatever PVE the caller provides: the
 * real GuestQueue, the Journal on a real SQLite store (in memory, or a file that survives a
 * "restart") and a gate, logs off. The engine, reconciler, gate and signed-op tests all build
 * it here, so they test one composition.
 */
import { Layer, Logger, LogLevel } from "effect"
import type { Gate } from "../../src/gate/Gate.js"
import { Engine, type EngineOptions } from "../../src/reconcile/Engine.js"
import { GuestQueue } from "../../src/reconcile/GuestQueue.js"
import { DEFAULT_TOKEN_ID } from "../../src/sim/Simulator.js"
import { Journal } from "../../src/state/Journal.js"
import { StateStore } from "../../src/state/StateStore.js"
import { allowAllLayer } from "./gate.js"

export interface EngineStackOptions {
  /** Default `allowAllLayer` (./gate.ts): every reversible action, whatever keys it touches. */
  readonly gate?: Layer.Layer<Gate>
  /** A state.db file; default an in-memory database. */
  readonly dbFile?: string
  /** Over the defaults: the simulator's default token, PVE reads retried after 20 ms. */
  readonly engine?: Partial<EngineOptions>
}

/** Engine, GuestQueue, Journal, Gate and their StateStore; needs a Pve. */
export const engineStack = (options: EngineStackOptions = {}) =>
  Engine.layer({ tokenUser: DEFAULT_TOKEN_ID, readRetry: { base: "20 millis" }, ...options.engine }).pipe(
    Layer.provideMerge(Layer.mergeAll(GuestQueue.layer(), Journal.layer, options.gate ?? allowAllLayer)),
    Layer.provideMerge(
      options.dbFile === undefined ? StateStore.layerMemory : StateStore.layer({ filename: options.dbFile })
    ),
    Layer.provide(Logger.minimumLogLevel(LogLevel.None))
  )
