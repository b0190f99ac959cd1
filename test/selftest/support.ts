/**
 * The selftest over the real simulator (HTTPS, pinned) and a real in-memory journal: only the
 * edges are swapped, so what is tested is what runs. Tasks are short so the suite stays fast.
 */
import { Effect, Either, Layer } from "effect"
import { NodeScope } from "../../src/reconcile/NodeScope.js"
import { Selftest } from "../../src/selftest/Selftest.js"
import type { SimGuestSeed, SimGuestView, SimOptions, SimTokenSeed } from "../../src/sim/Simulator.js"
import { Journal } from "../../src/state/Journal.js"
import { StateStore } from "../../src/state/StateStore.js"
import { pveOnSim, Sim } from "../support/sim.js"

export const QEMU_VMID = 100
export const LXC_VMID = 101
export const UNTAGGED_VMID = 102
export const TEMPLATE_VMID = 103
export const RUNNING_VMID = 104

export const GUESTS: ReadonlyArray<SimGuestSeed> = [
  {
    vmid: QEMU_VMID,
    type: "qemu",
    config: {
      name: "selftest-vm",
      memory: 2048,
      cores: 1,
      ostype: "l26",
      tags: "lab;felhom-selftest",
      description: "test guest\n\nkeep me"
    }
  },
  {
    vmid: LXC_VMID,
    type: "lxc",
    // No description: the config task must delete the key again, not leave "" behind.
    config: {
      hostname: "selftest-ct",
      memory: 512,
      ostype: "debian",
      rootfs: "local-lvm:vm-101-disk-0,size=8G",
      tags: "Felhom-Selftest"
    }
  },
  { vmid: UNTAGGED_VMID, type: "qemu", config: { name: "prod-db", memory: 4096, description: "do not touch" } },
  { vmid: TEMPLATE_VMID, type: "qemu", template: true, config: { name: "tpl", memory: 1024, tags: "felhom-selftest" } },
  {
    vmid: RUNNING_VMID,
    type: "qemu",
    status: "running",
    config: { name: "busy", memory: 1024, tags: "felhom-selftest" }
  }
]

export const LIMITED_TOKEN: SimTokenSeed = {
  tokenid: "felhom@pve!limited",
  secret: "0b6d4c8e-1111-2222-3333-444455556666",
  privileges: [{ path: "/", privs: ["VM.Audit", "VM.Config.Options"], propagate: true }]
}

/** Sim + Pve client + journal + node scope + Selftest; `tokenUser` is the sim's first token. */
export const selftestStack = (options: SimOptions = {}) => {
  const sim = Sim.layer({ taskDuration: 5, guests: GUESTS, ...options })
  const journal = Journal.layer.pipe(Layer.provideMerge(StateStore.layerMemory))
  const selftest = Layer.unwrapEffect(Effect.map(Sim, (s) => Selftest.layer({ tokenUser: s.tokenId })))
  return selftest.pipe(
    Layer.provideMerge(NodeScope.layer({ mode: "node" })),
    Layer.provideMerge(Layer.mergeAll(pveOnSim(), journal)),
    Layer.provideMerge(sim)
  )
}

export const viewOf = (vmid: number) =>
  Effect.flatMap(
    Sim,
    (sim) =>
      Either.match(sim.cluster.view(vmid), {
        onLeft: (e) => Effect.die(e),
        onRight: (v: SimGuestView) => Effect.succeed(v)
      })
  )
