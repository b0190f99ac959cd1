/**
 * The reconcile loop over the simulator: zero mutations with the Empty provider (invariant 7),
 * convergence after one pass (invariant 2/3), no spurious drift from PVE's read-back quirks,
 * and a property: apply any plan, plan again → zero actions.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Layer, Metric } from "effect"
import type { DesiredState } from "../../src/domain/DesiredState.js"
import { Pve } from "../../src/pve/Pve.js"
import { DesiredProvider } from "../../src/reconcile/DesiredProvider.js"
import { NodeScope } from "../../src/reconcile/NodeScope.js"
import { Reconciler, ReconcilerMetrics } from "../../src/reconcile/Reconciler.js"
import type { SimGuestSeed } from "../../src/sim/Simulator.js"
import { Sim } from "../support/sim.js"
import { desired, engineLayer, ours, planNow, runAll, SEEDS } from "./EngineSupport.js"

const withProvider = (provider: Layer.Layer<DesiredProvider>, guests: ReadonlyArray<SimGuestSeed> = SEEDS) =>
  Reconciler.layer({ interval: "50 millis" }).pipe(
    Layer.provideMerge(engineLayer(guests)),
    Layer.provide(Layer.merge(provider, NodeScope.cluster))
  )

const drifted = desired({
  revision: "r1",
  guests: {
    100: { power: "stopped", config: { description: "web v2", tags: "web;prod;new", onboot: 1, cores: 4 } },
    101: { config: { description: "db v2", memory: 2048, cores: null } },
    102: { power: "running", config: { name: "batch2", memory: 2048 } },
    103: { power: "running" }
  }
})

describe("Reconciler", () => {
  it.live("Empty provider: several passes, and the forever loop, mutate nothing", () =>
    Effect.gen(function*() {
      const reconciler = yield* Reconciler
      for (let i = 0; i < 3; i++) {
        const pass = yield* reconciler.runOnce
        expect(pass.plan.actions).toEqual([])
        expect(pass.plan.unmanaged).toHaveLength(SEEDS.length)
      }
      // The daemon's loop, a few intervals long.
      yield* reconciler.run.pipe(Effect.timeout("300 millis"), Effect.ignore)
      const sim = yield* Sim
      expect(sim.cluster.mutations()).toEqual([])
    }).pipe(Effect.provide(withProvider(DesiredProvider.Empty))))

  it.live("one pass over a drifted cluster converges: the next pass plans nothing and mutates nothing", () =>
    Effect.gen(function*() {
      const reconciler = yield* Reconciler
      const first = yield* reconciler.runOnce
      expect(first.results.length).toBeGreaterThan(0)
      expect(first.results.every((r) => r.outcome._tag === "Applied")).toBe(true)
      // One guest's actions ran in plan order: SetConfig before Start.
      expect(first.results.filter((r) => r.action.guest.vmid === 102).map((r) => r.action._tag)).toEqual([
        "SetConfig",
        "Start"
      ])
      const count = (yield* ours).length
      const second = yield* reconciler.runOnce
      expect(second.plan.actions).toEqual([])
      expect((yield* ours).length).toBe(count)
      expect((yield* Metric.value(ReconcilerMetrics.drift)).value).toBe(0)
    }).pipe(Effect.provide(withProvider(DesiredProvider.Static(drifted)))))

  it.live("a guest's later actions are skipped when an earlier one fails", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      sim.cluster.setFaults({ failTasks: [{ vmid: 102, type: "qmconfig", message: "disk full" }] })
      const pass = yield* Effect.flatMap(Reconciler, (r) => r.runOnce)
      const for102 = pass.results.filter((r) => r.action.guest.vmid === 102).map((r) => r.outcome._tag)
      expect(for102).toEqual(["Failed", "Skipped"])
      expect((yield* ours).filter((m) => m.vmid === 102)).toEqual([])
    }).pipe(Effect.provide(withProvider(DesiredProvider.Static(drifted)))))
})

describe("Reconciler: drift after convergence", () => {
  const pinned = desired({
    revision: "r1",
    guests: { 100: { config: { description: "managed" } }, 102: { power: "running" } }
  })

  it.live("a guest that drifts back to an earlier state is corrected again, under the same revision", () =>
    Effect.gen(function*() {
      const reconciler = yield* Reconciler
      const sim = yield* Sim
      const pve = yield* Pve
      const first = yield* reconciler.runOnce
      expect(first.results.map((r) => r.outcome._tag)).toEqual(["Applied", "Applied"])
      // An operator puts both guests back exactly as they were: the config file, and so its
      // content-based digest, is identical to the one the first SetConfig was planned against.
      yield* sim.cluster.edit(100, { set: { description: "web server" } })
      const start102 = first.results.find((r) => r.action.guest.vmid === 102)
      if (start102 === undefined) return yield* Effect.dieMessage("no action for guest 102")
      const stop = yield* pve.power(start102.action.guest, "stop")
      if (stop._tag === "Task") yield* pve.waitTask(stop.upid, { deadline: "10 seconds" })
      const second = yield* reconciler.runOnce
      expect(second.results.map((r) => [r.action._tag, r.outcome._tag])).toEqual([["SetConfig", "Applied"], [
        "Start",
        "Applied"
      ]])
      expect(new Set(second.results.map((r) => r.opId))).not.toEqual(new Set(first.results.map((r) => r.opId)))
      const mine = yield* ours
      expect(mine.filter((m) => m.vmid === 100 && m.kind === "config")).toHaveLength(2)
      expect(mine.filter((m) => m.vmid === 102 && m.kind === "start")).toHaveLength(2)
      expect((yield* reconciler.runOnce).plan.actions).toEqual([])
    }).pipe(Effect.provide(withProvider(DesiredProvider.Static(pinned)))))
})

// PVE's read-back quirks, seeded as PVE would store them (src/reconcile/normalizers/ names the sources).
const QUIRKY: ReadonlyArray<SimGuestSeed> = [
  {
    vmid: 200,
    type: "lxc",
    status: "running",
    config: {
      hostname: "ct",
      memory: 512,
      description: "line one\nline two\n\n\n",
      tags: "Zeta alpha;MIDDLE",
      net0: "name=eth0,bridge=vmbr0,ip=dhcp",
      ostype: "debian",
      rootfs: "local-lvm:vm-200-disk-0,size=8G",
      onboot: 1
    }
  },
  {
    vmid: 201,
    type: "qemu",
    status: "stopped",
    config: {
      name: "vm",
      memory: "current=2048",
      cores: 2,
      description: "trailing spaces   \n",
      tags: "b,a,B",
      net0: "virtio,bridge=vmbr0,firewall=1",
      onboot: 0
    }
  }
]

describe("Reconciler: no spurious drift", () => {
  it.live("desired equal to the seeded guests modulo PVE's quirks plans zero actions", () =>
    Effect.gen(function*() {
      const doc = desired({
        guests: {
          200: {
            power: "running",
            config: {
              hostname: "ct",
              memory: "512",
              description: "line one\nline two",
              tags: "alpha,middle zeta",
              net0: "bridge=vmbr0,name=eth0,ip=dhcp",
              onboot: true
            }
          },
          201: {
            power: "stopped",
            config: {
              name: "vm",
              memory: 2048,
              cores: "2",
              description: "trailing spaces",
              tags: "A;b",
              net0: "virtio,firewall=1,bridge=vmbr0",
              onboot: false
            }
          }
        }
      })
      const { plan: p } = yield* planNow(doc)
      expect(p.actions).toEqual([])
      expect(p.skipped).toEqual([])
      expect(yield* ours).toEqual([])
    }).pipe(Effect.provide(engineLayer(QUIRKY))))
})

const word = fc.stringMatching(/^[a-z]([a-z0-9-]{0,6}[a-z0-9])?$/)
const guestConfig = fc.record(
  {
    description: fc.oneof(
      fc.constant(null),
      fc.string({ unit: fc.constantFrom("a", "B", " ", "\n", "%", ":"), maxLength: 12 })
    ),
    tags: fc.array(fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9]{0,4}$/), { maxLength: 4 }).map((ts) => ts.join(",")),
    onboot: fc.constantFrom(0, 1, true, false),
    name: word,
    memory: fc.constantFrom(512, 1024, 2048),
    cores: fc.integer({ min: 1, max: 4 })
  },
  { requiredKeys: [] }
)
const docArb = fc.record({ 100: guestConfig, 101: guestConfig, 102: guestConfig }).map((g): DesiredState => {
  const lxc = (c: Record<string, unknown>) => {
    // lxc calls `name` `hostname` (pve-container `PVE::LXC::Config` `$confdesc`).
    const { name, ...rest } = c
    return name === undefined ? rest : { ...rest, hostname: name }
  }
  return desired({ guests: { 100: { config: g[100] }, 101: { config: lxc(g[101]) }, 102: { config: g[102] } } })
})

describe("Reconciler: convergence property", () => {
  it.live("applying a plan to the simulator and planning again yields zero actions", () =>
    Effect.gen(function*() {
      const samples = fc.sample(docArb, { numRuns: 15, seed: 42 })
      for (const doc of samples) {
        const results = yield* runAll(doc)
        const failed = results.filter((r) => r.outcome._tag !== "Applied" && r.outcome._tag !== "AlreadyApplied")
        expect(failed.map((r) => r.outcome)).toEqual([])
        const again = yield* planNow(doc)
        expect({ doc, actions: again.plan.actions }).toEqual({ doc, actions: [] })
      }
    }).pipe(Effect.provide(engineLayer())), 120_000)
})
