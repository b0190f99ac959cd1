/**
 * Test edges for PVE: the simulator over real HTTPS on 127.0.0.1, and the live `Pve` client
 * pinned to its certificate — the same layers the CLI and daemon compose.
 */
import { Context, Effect, Layer, Redacted } from "effect"
import { Pve } from "../../src/pve/Pve.js"
import { makeConnectionSettings, PveConnection, type PveConnectionInput } from "../../src/pve/PveConnection.js"
import { type RunningSim, type SimOptions, startSimulator } from "../../src/sim/Simulator.js"

export class Sim extends Context.Tag("test/Sim")<Sim, RunningSim>() {
  static readonly layer = (options: SimOptions = {}) =>
    Layer.scoped(Sim, startSimulator({ authFailureDelay: 0, taskDuration: 20, ...options }))
}

/** Connection settings for the simulator's default token, pinned to its leaf certificate. */
export const simConnection = (sim: RunningSim, overrides: Partial<PveConnectionInput> = {}) =>
  makeConnectionSettings({
    url: sim.url,
    token: { tokenId: sim.tokenId, secret: sim.tokenSecret },
    fingerprint: sim.fingerprint === "" ? undefined : sim.fingerprint,
    requestTimeout: "10 seconds",
    ...overrides
  })

// fresh: layers are memoized by reference, so two clients with different tokens need two builds.
export const pveOnSim = (overrides: Partial<PveConnectionInput> = {}): Layer.Layer<Pve, never, Sim> =>
  Layer.fresh(Pve.layer).pipe(
    Layer.provide(
      Layer.effect(PveConnection, Effect.flatMap(Sim, (sim) => Effect.orDie(simConnection(sim, overrides))))
    )
  )

/** Simulator plus a client of it, both available to the test. */
export const simWithPve = (options: SimOptions = {}) => pveOnSim().pipe(Layer.provideMerge(Sim.layer(options)))

export const secretOf = (sim: RunningSim): string => Redacted.value(sim.tokenSecret)
