/**
 * observe's read budget (one read per managed guest in a converged pass: GET /pending, with the
 * config derived from its rows and the power state from the list), and that the list's stale
 * status (pve-manager `PVE::Service::pvestatd` pushes it every ~10 s) never causes a wrong or
 * redundant power action: a guest
 * whose plan on the list's status has one gets status/current read fresh first.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { DesiredState } from "../../src/domain/DesiredState.js"
import { GuestRef } from "../../src/domain/Guest.js"
import { configFromPending, type PendingEntry, pendingKeys } from "../../src/domain/GuestConfig.js"
import { Pve } from "../../src/pve/Pve.js"
import { observe } from "../../src/reconcile/observe.js"
import { plan } from "../../src/reconcile/plan.js"
import type { SimOptions } from "../../src/sim/Simulator.js"
import { pveOnSim, Sim } from "../support/sim.js"
import { desired, SEEDS } from "./EngineSupport.js"

const DIGEST = "0123456789abcdef0123456789abcdef01234567"

describe("configFromPending (GET config's pending-merged view, from GET /pending)", () => {
  it("pending values win, pending deletes (1 and 2) remove the key, the digest row gives the digest", () => {
    const rows: ReadonlyArray<PendingEntry> = [
      { key: "cores", value: 2, pending: 4 },
      { key: "description", value: "old", delete: 1 },
      { key: "tags", value: "a", delete: 2 },
      { key: "memory", value: 2048 },
      { key: "net1", pending: "virtio,bridge=vmbr1" },
      { key: "name", value: "web" },
      { key: "lock", value: "backup" },
      { key: "digest", value: DIGEST }
    ]
    expect(configFromPending(rows)).toEqual({
      digest: DIGEST,
      values: { cores: 4, memory: 2048, net1: "virtio,bridge=vmbr1", name: "web", lock: "backup" }
    })
    expect(pendingKeys(rows)).toEqual(["cores", "description", "tags", "net1"])
  })

  it("no config rows → empty values; no (or a malformed) digest row → undefined", () => {
    expect(configFromPending([{ key: "digest", value: DIGEST }])).toEqual({ digest: DIGEST, values: {} })
    expect(configFromPending([{ key: "memory", value: 512 }])).toBeUndefined()
    expect(configFromPending([{ key: "memory", value: 512 }, { key: "digest", value: "nope" }])).toBeUndefined()
  })
})

type Counts = { guests: number; status: number; config: number; pending: number }
const zero = (): Counts => ({ guests: 0, status: 0, config: 0, pending: 0 })
const total = (c: Counts) => c.guests + c.status + c.config + c.pending

/** The real client over the simulator, counting each read call (as scripts/bench-reconcile.ts does). */
const countedSim = (counts: Counts, options: SimOptions = {}) =>
  Layer.effect(
    Pve,
    Effect.map(Pve, (pve) => {
      const count = <A, E>(k: keyof Counts, e: Effect.Effect<A, E>) =>
        Effect.zipRight(
          Effect.sync(() => {
            counts[k]++
          }),
          e
        )
      return {
        ...pve,
        guests: count("guests", pve.guests),
        status: (g) => count("status", pve.status(g)),
        config: (g, o) => count("config", pve.config(g, o)),
        pending: (g) => count("pending", pve.pending(g))
      }
    })
  ).pipe(Layer.provide(pveOnSim()), Layer.provideMerge(Sim.layer({ https: false, ...options })))

const reset = (c: Counts) => Object.assign(c, zero())

/** The document that matches SEEDS exactly: power and config as seeded. */
const convergedDoc = (vmids: ReadonlyArray<number>): DesiredState =>
  desired({
    revision: "same",
    guests: Object.fromEntries(
      SEEDS.filter((s) => vmids.includes(s.vmid)).map((s) => [s.vmid, { power: s.status, config: s.config }])
    )
  })

const ref = (vmid: number, type: "qemu" | "lxc") => GuestRef.make({ vmid, node: "pve1", type } as never)

const power = (vmid: number, type: "qemu" | "lxc", action: "start" | "stop") =>
  Effect.gen(function*() {
    const pve = yield* Pve
    const r = yield* pve.power(ref(vmid, type), action)
    if (r._tag === "Task") yield* pve.waitTask(r.upid, { deadline: "10 seconds" })
  })

describe("observe: reads per pass", () => {
  const counts = zero()
  it.live("a converged pass over N managed guests makes 1 + N calls (the list, one /pending each); unmanaged are not read", () =>
    Effect.gen(function*() {
      for (const vmids of [[100, 101, 102, 103], [100, 103]]) {
        const doc = convergedDoc(vmids)
        reset(counts)
        const observed = yield* observe(doc)
        const p = plan(doc, observed)
        expect(p.actions).toEqual([])
        expect(p.skipped).toEqual([])
        expect(counts).toEqual({ guests: 1, status: 0, config: 0, pending: vmids.length })
        expect(total(counts)).toBe(1 + vmids.length)
        // The derived config is what GET config (pending merged) answers, digest included.
        const pve = yield* Pve
        for (const o of observed.filter((x) => vmids.includes(x.guest.vmid))) {
          expect(o.config).toEqual(yield* pve.config(ref(o.guest.vmid, o.guest.type)))
        }
      }
    }).pipe(Effect.provide(countedSim(counts, { guests: SEEDS }))))

  it.live("only guests planned with a power action get status/current, once", () =>
    Effect.gen(function*() {
      const doc = desired({
        revision: "r",
        guests: { 100: { power: "stopped" }, 101: { power: "running" }, 102: { power: "running" } }
      })
      reset(counts)
      const p = plan(doc, yield* observe(doc))
      expect(p.actions.map((a) => [a._tag, a.guest.vmid])).toEqual([["Stop", 100], ["Start", 102]])
      expect(counts).toEqual({ guests: 1, status: 2, config: 0, pending: 3 })
    }).pipe(Effect.provide(countedSim(counts, { guests: SEEDS }))))
})

describe("observe: the list's stale status (statsStaleness)", () => {
  const counts = zero()
  // One push at start, none for the rest of the test: every row keeps its seeded status.
  const stale = { guests: SEEDS, statsStaleness: 10 * 60_000, taskDuration: 5 }

  it.live("the list says stopped/running after a start/stop: a fresh status decides, no redundant action", () =>
    Effect.gen(function*() {
      yield* power(102, "qemu", "start")
      yield* power(101, "lxc", "stop")
      const pve = yield* Pve
      const rows = yield* pve.guests
      expect(rows.find((r) => r.vmid === 102)?.status).toBe("stopped")
      expect(rows.find((r) => r.vmid === 101)?.status).toBe("running")

      // Desired is what the guests now really are: the list alone would plan Start 102 and Stop 101.
      const doc = desired({ revision: "r", guests: { 101: { power: "stopped" }, 102: { power: "running" } } })
      reset(counts)
      const observed = yield* observe(doc)
      const p = plan(doc, observed)
      expect(p.actions).toEqual([])
      expect(p.skipped).toEqual([])
      expect(observed.find((o) => o.guest.vmid === 102)?.status?.status).toBe("running")
      expect(observed.find((o) => o.guest.vmid === 101)?.status?.status).toBe("stopped")
      expect(counts).toEqual({ guests: 1, status: 2, config: 0, pending: 2 })

      // A wish the fresh status calls a power action for and the list agrees with: planned, on
      // the fresh status (100 really runs and the list says so).
      const stop100 = desired({ revision: "r2", guests: { 100: { power: "stopped" }, 102: { power: "stopped" } } })
      reset(counts)
      const p2 = plan(stop100, yield* observe(stop100))
      // 102 really runs but the list still says stopped, as wished: no action this pass (never a
      // wrong one); it is planned once pvestatd's next push shows it running (≤ one period).
      expect(p2.actions.map((a) => [a._tag, a.guest.vmid])).toEqual([["Stop", 100]])
      expect(counts).toEqual({ guests: 1, status: 1, config: 0, pending: 2 })
    }).pipe(Effect.provide(countedSim(counts, stale))))
})

describe("observe: pending-only changes", () => {
  const counts = zero()
  it.live("a pending value or pending delete matching the document: no SetConfig, restart required reported", () =>
    Effect.gen(function*() {
      const pve = yield* Pve
      // qemu 100 runs: memory and cores are not hot-pluggable by default, so both stay pending.
      yield* pve.setConfig(ref(100, "qemu"), { set: { memory: 4096 }, delete: ["cores"], mode: "sync" })
      const pending = yield* pve.pending(ref(100, "qemu"))
      expect(pendingKeys(pending)).toEqual(expect.arrayContaining(["memory", "cores"]))
      const doc = desired({
        revision: "r",
        guests: { 100: { power: "running", config: { memory: 4096, cores: null } } }
      })
      reset(counts)
      const p = plan(doc, yield* observe(doc))
      expect(p.actions).toEqual([])
      expect(p.restartRequired).toEqual([{ vmid: 100, keys: ["cores", "memory"] }])
      expect(counts).toEqual({ guests: 1, status: 0, config: 0, pending: 1 })
    }).pipe(Effect.provide(countedSim(counts, { guests: SEEDS }))))
})
