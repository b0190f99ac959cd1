/**
 * Shared edges for the gate, revert and signed-op tests: the simulator with the real Pve client,
 * the real GuestQueue, Journal and NonceStore over one SQLite store (memory, or a file to
 * survive a "restart"), the real gate with a chosen policy, the engine and SignedOps.
 * Signed ops are stamped with the real clock (tests run `it.live`: simulator I/O).
 */
import { Effect, Layer, Logger, LogLevel } from "effect"
import * as crypto from "node:crypto"
import { signEnvelope } from "../../src/authz/Envelope.js"
import { encodeOpPayload, OP_PAYLOAD_TYPE, type OpAction, type OpPayload } from "../../src/authz/OpPayload.js"
import { SignedOps } from "../../src/authz/SignedOps.js"
import { noSigners, type Signers } from "../../src/authz/Signers.js"
import { makeVmid } from "../../src/domain/Vmid.js"
import { Gate, type GatePolicy } from "../../src/gate/Gate.js"
import { NodeScope } from "../../src/reconcile/NodeScope.js"
import { DEFAULT_TOKEN_ID, type SimGuestSeed } from "../../src/sim/Simulator.js"
import { NonceStore } from "../../src/state/NonceStore.js"
import { AGENT, type TestKey } from "../authz/support.js"
import { SEEDS } from "../reconcile/EngineSupport.js"
import { engineStack } from "../support/engine.js"
import { Sim, simWithPve } from "../support/sim.js"

export { AGENT }

const quiet = Logger.minimumLogLevel(LogLevel.None)

/** Journal + NonceStore + queue + gate + engine + node scope over an existing Pve (and Sim). */
export const agentLayer = (
  options: {
    readonly policy?: GatePolicy
    /** Instead of the real gate with `policy`, this one (e.g. ../support/gate.ts). */
    readonly gate?: Layer.Layer<Gate>
    readonly signers?: Signers
    readonly dbFile?: string
  } = {}
) =>
  SignedOps.layer({ agentId: AGENT, signers: options.signers ?? noSigners("no signers in this test") }).pipe(
    Layer.provideMerge(Layer.merge(NonceStore.layer(), NodeScope.layer({ mode: "node" }))),
    Layer.provideMerge(engineStack({ gate: options.gate ?? Gate.layer(options.policy ?? {}), dbFile: options.dbFile })),
    Layer.provide(quiet)
  )

/** agentLayer over a fresh simulator. */
export const gateLayer = (
  options: Parameters<typeof agentLayer>[0] & { readonly guests?: ReadonlyArray<SimGuestSeed> } = {}
) => agentLayer(options).pipe(Layer.provideMerge(simWithPve({ guests: options.guests ?? SEEDS })))

export const nowSeconds = () => Math.floor(Date.now() / 1000)

// Strictly increasing across the run, also across a simulated restart on one state file.
let seqCounter = Date.now()
/** A valid op for AGENT, stamped now; a fresh op id and a rising seq unless given. */
export const liveOp = (vmid: number, action: OpAction, overrides: Partial<OpPayload> = {}): OpPayload => {
  seqCounter += 1
  const now = nowSeconds()
  return {
    op_id: `op-${crypto.randomUUID()}`,
    iss: "hub.test",
    aud: AGENT,
    target: { vmid: makeVmid(vmid) },
    iat: now - 5,
    exp: now + 300,
    seq: seqCounter,
    action,
    ...overrides
  }
}

export const sign = (key: TestKey, op: OpPayload) => signEnvelope(OP_PAYLOAD_TYPE, encodeOpPayload(op), [key])

export const viewOf = (vmid: number) => Effect.flatMap(Sim, (sim) => Effect.orDie(sim.cluster.view(vmid)))

/** Mutations our token made. */
export const ourMutations = Effect.map(Sim, (sim) => sim.cluster.mutations().filter((m) => m.user === DEFAULT_TOKEN_ID))
