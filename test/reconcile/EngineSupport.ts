/**
 * Shared edges for the Engine and Reconciler tests: the simulator over HTTPS with the real Pve
 * client, an in-memory journal, the real GuestQueue and the permissive gate — the same layers
 * the CLI composes, with only PVE and SQLite swapped.
 */
import { Effect, Layer, Schema } from "effect"
import type { Action } from "../../src/domain/Action.js"
import { DesiredState } from "../../src/domain/DesiredState.js"
import { Engine } from "../../src/reconcile/Engine.js"
import { observe } from "../../src/reconcile/observe.js"
import { plan } from "../../src/reconcile/plan.js"
import { DEFAULT_TOKEN_ID, type SimGuestSeed, type SimMutation } from "../../src/sim/Simulator.js"
import { engineStack } from "../support/engine.js"
import { Sim, simWithPve } from "../support/sim.js"

export const SEEDS: ReadonlyArray<SimGuestSeed> = [
  {
    vmid: 100,
    type: "qemu",
    status: "running",
    config: {
      name: "web",
      memory: 2048,
      cores: 2,
      description: "web server",
      tags: "prod;web",
      net0: "virtio,bridge=vmbr0"
    }
  },
  {
    vmid: 101,
    type: "lxc",
    status: "running",
    config: {
      hostname: "db",
      memory: 1024,
      cores: 1,
      description: "database",
      ostype: "debian",
      rootfs: "local-lvm:vm-101-disk-0,size=8G"
    }
  },
  { vmid: 102, type: "qemu", status: "stopped", config: { name: "batch", memory: 1024, cores: 1 } },
  {
    vmid: 103,
    type: "lxc",
    status: "stopped",
    config: { hostname: "cache", memory: 512, ostype: "debian", rootfs: "local-lvm:vm-103-disk-0,size=8G" }
  }
]

/** Everything the engine needs, over a fresh simulator and an in-memory journal. */
export const engineLayer = (guests: ReadonlyArray<SimGuestSeed> = SEEDS) =>
  engineStack().pipe(Layer.provideMerge(simWithPve({ guests })))

/** A desired document from plain data (a bad one fails the test at decode). */
export const desired = (doc: unknown): DesiredState => Schema.decodeUnknownSync(DesiredState)(doc)

/** observe + plan, as one reconcile pass does. */
export const planNow = (doc: DesiredState) =>
  Effect.map(observe(doc), (observed) => ({ plan: plan(doc, observed), observed }))

/** Runs every planned action in order through the engine. */
export const runAll = (doc: DesiredState) =>
  Effect.gen(function*() {
    const engine = yield* Engine
    const { plan: p, observed } = yield* planNow(doc)
    return yield* Effect.forEach(p.actions, (action: Action) => {
      const o = observed.find((x) => x.guest.vmid === action.guest.vmid)
      return engine.run(action, { revision: p.revision, ...(o === undefined ? {} : { observed: o }) })
    })
  })

/** Mutations our token made (the log also holds the test's own edits/locks as root@pam). */
export const ours = Effect.map(
  Sim,
  (sim) => sim.cluster.mutations().filter((m: SimMutation) => m.user === DEFAULT_TOKEN_ID)
)
