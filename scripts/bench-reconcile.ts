/**
 * Reconcile benchmark: one converged pass (observe → plan; nothing to do) over N simulated
 * guests, every one of them managed, with an injected per-request latency L. Reports the PVE
 * calls the pass made (the client's own request count, so retries and any new read count)
 * against 1 + N (the cluster list, then /pending per managed guest), calls per guest, mutations
 * (must be 0), and wall time against the bound ⌈(1 + N) / 3⌉ × L: pveproxy serves 3 requests
 * at a time, so no client can do 1 + N calls faster. Plus the CPU of normalize + plan alone (pure:
 * the captured observation, planned again, best of 5).
 *
 * The simulator runs as a child process (scripts/lib/simChild.ts): PVE is never in the agent's
 * process, and in-process it would share the client's one event-loop thread. The desired
 * document is derived from an in-process SimCluster built with the same seed (the same guests,
 * no server): power as observed, memory as configured. A warm-up pass over the first 300 guests
 * runs first (JIT, TLS connections); then one pass per latency, on the same simulator.
 *
 *   npm run bench:reconcile -- --guests 10000 --latency 10
 *   npm run bench:reconcile -- --guests 1000,10000 --latency 10,30
 *   npm run bench:reconcile -- --guests 1000 --latency 10 --inproc   (the old in-process simulator)
 */
import { Effect, Layer, Logger, LogLevel, Schema } from "effect"
import { performance } from "node:perf_hooks"
import { DesiredState } from "../src/domain/DesiredState.js"
import { Pve } from "../src/pve/Pve.js"
import { makeConnectionSettings, PveConnection } from "../src/pve/PveConnection.js"
import { observe } from "../src/reconcile/observe.js"
import { plan } from "../src/reconcile/plan.js"
import { SimCluster, startSimulator } from "../src/sim/Simulator.js"
import { processCpuSeconds, startSimChild } from "./lib/simChild.js"

const SIZES = (process.env.BENCH_GUESTS ?? "1000,10000").split(",").map(Number)
const L = Number(process.env.BENCH_LATENCY_MS ?? 10)
const INPROC = process.env.BENCH_INPROC === "1"
const SEED = 5

/** The cluster `felhom-agent sim --seed 5 --guests N` serves, rebuilt in-process without a server. */
const sameCluster = (size: number) =>
  new SimCluster({ seed: SEED, nodes: ["pve1"], guests: size, tokens: [], taskDuration: 50, statsDelay: 0, tagStyle: {} })

interface Target {
  readonly url: string
  readonly tokenId: string
  readonly tokenSecret: import("effect").Redacted.Redacted<string>
  readonly fingerprint: string
  readonly cluster: SimCluster
  readonly setLatency: (ms: number) => Promise<void>
  readonly mutationCount: () => Promise<number>
  readonly serverCpu: () => number
}

const target = (size: number) =>
  INPROC
    ? Effect.map(startSimulator({ guests: size, seed: SEED, authFailureDelay: 0 }), (sim): Target => ({
      ...sim,
      setLatency: async (ms) => { sim.cluster.setFaults({ latencyMs: ms }) },
      mutationCount: async () => sim.cluster.mutations().length,
      serverCpu: () => 0
    }))
    : Effect.map(startSimChild({ guests: size, seed: SEED }), (sim): Target => ({
      ...sim,
      cluster: sameCluster(size),
      setLatency: async (ms) => { await sim.control("POST", "/faults", { latencyMs: ms }) },
      mutationCount: async () => ((await sim.control("GET", "/mutations")) as ReadonlyArray<unknown>).length,
      serverCpu: () => processCpuSeconds(sim.pid)
    }))

const countingPve = (counter: { n: number }) =>
  Layer.effect(Pve, Effect.map(Pve, (pve) => {
    const count = <A, E>(e: Effect.Effect<A, E>) => Effect.zipRight(Effect.sync(() => { counter.n++ }), e)
    return {
      ...pve,
      guests: count(pve.guests),
      status: (g) => count(pve.status(g)),
      config: (g, o) => count(pve.config(g, o)),
      pending: (g) => count(pve.pending(g))
    }
  }))

const onePass = (size: number) =>
  Effect.scoped(Effect.gen(function*() {
    const sim = yield* target(size)
    // The desired document is what the cluster already is: power as observed, memory as set.
    const guests: Record<string, unknown> = {}
    for (const [vmid, g] of sim.cluster.guests) {
      const memory = Number(g.config.get("memory"))
      guests[String(vmid)] = { power: g.running ? "running" : "stopped", ...(Number.isFinite(memory) ? { config: { memory } } : {}) }
    }
    const doc = Schema.decodeUnknownSync(DesiredState)({ revision: "bench", guests })
    const warmDoc = Schema.decodeUnknownSync(DesiredState)({ revision: "warm", guests: Object.fromEntries(Object.entries(guests).slice(0, 300)) })
    const counter = { n: 0 }
    const connection = Layer.effect(PveConnection, Effect.orDie(makeConnectionSettings({
      url: sim.url, token: { tokenId: sim.tokenId, secret: sim.tokenSecret }, fingerprint: sim.fingerprint, requestTimeout: "60 seconds"
    })))
    const pve = yield* Layer.build(countingPve(counter).pipe(Layer.provide(Pve.layer), Layer.provide(connection)))
    yield* Effect.provide(observe(warmDoc), pve)
    counter.n = 0
    yield* Effect.promise(() => sim.setLatency(L))
    const before = yield* Effect.promise(() => sim.mutationCount())
    const serverCpu0 = sim.serverCpu()
    const started = performance.now()
    const cpu0 = process.cpuUsage()
    const observed = yield* Effect.provide(observe(doc), pve)
    const planned = plan(doc, observed)
    const wallMs = performance.now() - started
    const cpu = process.cpuUsage(cpu0)
    const serverCpuS = sim.serverCpu() - serverCpu0
    const mutations = (yield* Effect.promise(() => sim.mutationCount())) - before
    const bound = Math.ceil(counter.n / 3) * L
    // Pure part alone: normalize + plan over the captured observation, best of 5.
    let planCpuMs = Infinity
    for (let i = 0; i < 5; i++) {
      const c0 = process.cpuUsage()
      const p = plan(doc, observed)
      const c = process.cpuUsage(c0)
      if (p.actions.length !== planned.actions.length) throw new Error("plan is not deterministic")
      planCpuMs = Math.min(planCpuMs, (c.user + c.system) / 1000)
    }
    return {
      size, calls: counter.n, actions: planned.actions.length, skipped: planned.skipped.length, mutations, wallMs, boundMs: bound,
      ratio: wallMs / bound, processCpuMs: (cpu.user + cpu.system) / 1000, serverCpuMs: serverCpuS * 1000, planCpuMs
    }
  })).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)))

const main = async (): Promise<void> => {
  console.log(`reconcile pass, converged, L = ${L} ms per request (simulator latencyMs), client concurrency 3, simulator ${INPROC ? "in-process" : "in a child process"}, node ${process.version}`)
  for (const size of SIZES) {
    const r = await Effect.runPromise(onePass(size))
    console.log(`${size} guests: ${r.calls} API calls, ${r.actions} actions planned, ${r.skipped} skipped, ${r.mutations} mutations; ` +
      `wall ${(r.wallMs / 1000).toFixed(2)} s vs bound ⌈calls/3⌉×L = ${(r.boundMs / 1000).toFixed(2)} s → ${r.ratio.toFixed(3)}× the bound ` +
      `(target ≤ 1.2×: ${r.ratio <= 1.2 ? "met" : "MISSED"}); CPU during the pass: client ${(r.processCpuMs / 1000).toFixed(2)} s ` +
      `(${(r.processCpuMs / r.calls).toFixed(2)} ms/call${INPROC ? ", simulator included" : ""}), simulator ${(r.serverCpuMs / 1000).toFixed(2)} s (${(r.serverCpuMs / r.calls).toFixed(2)} ms/call); ` +
      `normalize + plan alone: ${r.planCpuMs.toFixed(1)} ms CPU`)
  }
}

void main()
