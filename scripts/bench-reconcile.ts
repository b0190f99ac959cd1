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
import { Context, Effect, Layer, Logger, LogLevel, type Redacted, Schema } from "effect"
import { performance } from "node:perf_hooks"
import { DesiredState } from "../src/domain/DesiredState.js"
import { Pve } from "../src/pve/Pve.js"
import { makeConnectionSettings, PveConnection } from "../src/pve/PveConnection.js"
import { observe } from "../src/reconcile/observe.js"
import { plan } from "../src/reconcile/plan.js"
import { SimCluster, startSimulator } from "../src/sim/Simulator.js"
import { isMain, parseArgs } from "./lib/benchArgs.js"
import { type Figure, figuresTable } from "./lib/benchFigures.js"
import { mainThreadCpuSeconds, processCpuSeconds, startSimChild } from "./lib/simChild.js"

const SEED = 5
/** pveproxy's worker count: requests PVE serves at once, and the client's bound. */
const PVEPROXY_WORKERS = 3

export interface ReconcileBenchOptions {
  readonly guests: ReadonlyArray<number>
  readonly latencies: ReadonlyArray<number>
  readonly inproc: boolean
}

export const defaultReconcileOptions: ReconcileBenchOptions = {
  guests: [1_000, 10_000],
  latencies: [10, 30],
  inproc: false
}

export interface ReconcilePass {
  readonly guests: number
  readonly managed: number
  readonly latencyMs: number
  readonly calls: number
  readonly callsPerGuest: number
  readonly actions: number
  readonly skipped: number
  readonly mutations: number
  readonly wallMs: number
  /** ⌈(1 + managed) / 3⌉ × L */
  readonly boundMs: number
  readonly clientCpuMs: number
  /** The client's main thread alone (the event loop); the rest is V8's GC and JIT threads. */
  readonly clientMainCpuMs: number
  readonly simulatorCpuMs: number
  readonly planCpuMs: number
}

/** The cluster `felhom-agent sim --seed 5 --guests N` serves, rebuilt in-process without a server. */
const sameCluster = (size: number) =>
  new SimCluster({
    seed: SEED,
    nodes: ["pve1"],
    guests: size,
    tokens: [],
    taskDuration: 50,
    statsDelay: 0,
    tagStyle: {}
  })

interface Target {
  readonly url: string
  readonly tokenId: string
  readonly tokenSecret: Redacted.Redacted<string>
  readonly fingerprint: string
  readonly cluster: SimCluster
  readonly setLatency: (ms: number) => Promise<void>
  readonly mutationCount: () => Promise<number>
  readonly simulatorCpu: () => number
}

const target = (size: number, inproc: boolean) =>
  inproc
    ? Effect.map(startSimulator({ guests: size, seed: SEED, authFailureDelay: 0 }), (sim): Target => ({
      ...sim,
      setLatency: async (ms) => {
        sim.cluster.setFaults({ latencyMs: ms })
      },
      mutationCount: async () => sim.cluster.mutations().length,
      simulatorCpu: () => 0
    }))
    : Effect.flatMap(startSimChild({ guests: size, seed: SEED }), (sim) =>
      Effect.map(
        Effect.acquireRelease(Effect.sync(() => sameCluster(size)), (c) => Effect.sync(() => c.dispose())),
        (cluster): Target => ({
          ...sim,
          cluster,
          setLatency: async (ms) => {
            await sim.control("POST", "/faults", { latencyMs: ms })
          },
          mutationCount: async () => {
            const log = await sim.control("GET", "/mutations")
            return Array.isArray(log) ? log.length : Number.NaN
          },
          simulatorCpu: () => processCpuSeconds(sim.pid)
        })
      ))

const desiredOf = (cluster: SimCluster, limit?: number): DesiredState => {
  // The desired document is what the cluster already is: power as observed, memory as set.
  const guests: Record<string, unknown> = {}
  for (const [vmid, g] of cluster.guests) {
    if (limit !== undefined && Object.keys(guests).length >= limit) break
    const memory = Number(g.config.get("memory"))
    guests[String(vmid)] = {
      power: g.running ? "running" : "stopped",
      ...(Number.isFinite(memory) ? { config: { memory } } : {})
    }
  }
  return Schema.decodeUnknownSync(DesiredState)({ revision: limit === undefined ? "bench" : "warm", guests })
}

const cpuMs = (): number => {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1000
}

/** One simulator of `size` guests; one converged pass per latency. */
const passes = (size: number, latencies: ReadonlyArray<number>, inproc: boolean, log: (line: string) => void) =>
  Effect.scoped(Effect.gen(function*() {
    const sim = yield* target(size, inproc)
    const doc = desiredOf(sim.cluster)
    const managed = Object.keys(doc.guests).length
    const connection = Layer.effect(
      PveConnection,
      Effect.orDie(makeConnectionSettings({
        url: sim.url,
        token: { tokenId: sim.tokenId, secret: sim.tokenSecret },
        fingerprint: sim.fingerprint,
        requestTimeout: "60 seconds"
      }))
    )
    const context = yield* Layer.build(Pve.layer.pipe(Layer.provide(connection)))
    const pve = Context.get(context, Pve)
    yield* Effect.provide(observe(desiredOf(sim.cluster, 300)), context)
    const results: Array<ReconcilePass> = []
    for (const latencyMs of latencies) {
      yield* Effect.promise(() => sim.setLatency(latencyMs))
      const mutationsBefore = yield* Effect.promise(() => sim.mutationCount())
      const callsBefore = yield* pve.requestCount
      const simulatorCpu0 = sim.simulatorCpu()
      const cpu0 = cpuMs()
      const main0 = mainThreadCpuSeconds()
      const started = performance.now()
      const observed = yield* Effect.provide(observe(doc), context)
      const planned = plan(doc, observed)
      const wallMs = performance.now() - started
      const clientCpuMs = cpuMs() - cpu0
      const clientMainCpuMs = (mainThreadCpuSeconds() - main0) * 1000
      const simulatorCpuMs = (sim.simulatorCpu() - simulatorCpu0) * 1000
      const calls = (yield* pve.requestCount) - callsBefore
      const mutations = (yield* Effect.promise(() => sim.mutationCount())) - mutationsBefore
      let planCpuMs = Number.POSITIVE_INFINITY
      for (let i = 0; i < 5; i++) {
        const c0 = cpuMs()
        plan(doc, observed)
        planCpuMs = Math.min(planCpuMs, cpuMs() - c0)
      }
      const pass: ReconcilePass = {
        guests: size,
        managed,
        latencyMs,
        calls,
        callsPerGuest: calls / managed,
        actions: planned.actions.length,
        skipped: planned.skipped.length,
        mutations,
        wallMs,
        boundMs: Math.ceil((1 + managed) / PVEPROXY_WORKERS) * latencyMs,
        clientCpuMs,
        clientMainCpuMs,
        simulatorCpuMs,
        planCpuMs
      }
      log(describePass(pass))
      results.push(pass)
    }
    yield* Effect.promise(() => sim.setLatency(0))
    return results
  })).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)))

export const describePass = (r: ReconcilePass): string =>
  `${r.guests} guests (${r.managed} managed), L = ${r.latencyMs} ms: ${r.calls} PVE calls (${
    r.callsPerGuest.toFixed(3)
  } per managed guest; ` +
  `1 + N = ${1 + r.managed}), ${r.actions} actions, ${r.skipped} skipped, ${r.mutations} mutations; wall ${
    (r.wallMs / 1000).toFixed(2)
  } s ` +
  `vs ⌈(1 + N)/3⌉ × L = ${(r.boundMs / 1000).toFixed(2)} s → ${(r.wallMs / r.boundMs).toFixed(2)}×; CPU: client ` +
  `${(r.clientCpuMs / r.calls).toFixed(2)} ms/call (main thread ${
    (r.clientMainCpuMs / r.calls).toFixed(2)
  }), simulator ${(r.simulatorCpuMs / r.calls).toFixed(2)} ms/call; normalize + plan ${r.planCpuMs.toFixed(1)} ms`

export const runReconcileBench = async (
  options: ReconcileBenchOptions,
  log: (line: string) => void = console.log
): Promise<ReadonlyArray<ReconcilePass>> => {
  const all: Array<ReconcilePass> = []
  for (const size of options.guests) {
    all.push(...await Effect.runPromise(passes(size, options.latencies, options.inproc, log)))
  }
  return all
}

export const reconcileFigures = (results: ReadonlyArray<ReconcilePass>): Array<Figure> =>
  results.flatMap((r): Array<Figure> => {
    const name = `${r.guests.toLocaleString("en-US")} guests, L = ${r.latencyMs} ms`
    return [
      {
        group: "reconcile",
        name,
        metric: "calls / (1 + managed guests)",
        ours: r.calls,
        base: 1 + r.managed,
        unit: "calls",
        ratio: r.calls / (1 + r.managed),
        target: "= 1"
      },
      {
        group: "reconcile",
        name,
        metric: "wall / ⌈(1 + N)/3⌉ × L",
        ours: r.wallMs / 1000,
        base: r.boundMs / 1000,
        unit: "s",
        ratio: r.wallMs / r.boundMs,
        target: "<= 1.2"
      },
      {
        group: "reconcile",
        name,
        metric: "mutations (count)",
        ours: r.mutations,
        base: Number.NaN,
        unit: "",
        ratio: r.mutations,
        target: "= 0"
      }
    ]
  })

export const reconcileOptionsFromArgs = (args = parseArgs()): ReconcileBenchOptions => ({
  guests: args.numbers("guests", defaultReconcileOptions.guests, "BENCH_GUESTS"),
  latencies: args.numbers("latency", defaultReconcileOptions.latencies, "BENCH_LATENCY_MS"),
  inproc: args.flag("inproc", "BENCH_INPROC")
})

if (isMain(import.meta.url)) {
  const options = reconcileOptionsFromArgs()
  console.log(
    `reconcile pass, converged, every guest managed; client concurrency ${PVEPROXY_WORKERS}; simulator ${
      options.inproc ? "in-process" : "in a child process"
    }; node ${process.version}`
  )
  const results = await runReconcileBench(options)
  console.log(`\n${figuresTable(reconcileFigures(results))}`)
}
