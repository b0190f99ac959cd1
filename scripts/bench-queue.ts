/**
 * GuestQueue benchmark: 100k ops over 1,000 vmids (throughput, p50/p99 wait, heap with busy lanes
 * vs after they go idle and are reclaimed) and 1,000 waiters on one vmid.
 *
 *   node --expose-gc --import tsx scripts/bench-queue.ts     (heap figures after a forced GC)
 *   npx tsx scripts/bench-queue.ts                            (heap figures without GC: noisy)
 *
 * Peers (Bottleneck.Group, p-queue) are not installed, so every figure is also printed as a ratio
 * against a baseline measured in the same run: a naive per-key promise-chain map with a FIFO
 * global limiter, written inline below. The baseline has no coalescing, no cancellation, no
 * metrics and drops a key as soon as its chain drains; it is the floor of what serializing
 * per key costs in plain promises, not a competitor. No test depends on this script.
 */
import { Effect } from "effect"
import { performance } from "node:perf_hooks"
import { makeVmid } from "../src/domain/Vmid.js"
import { GuestQueue } from "../src/reconcile/GuestQueue.js"

const OPS = Number(process.env.BENCH_OPS ?? 100_000)
const VMIDS = 1_000
const CONCURRENCY = 4
const WAITERS = 1_000
const IDLE_TTL_MS = 200

/** The job body on both sides: one macrotask turn, as a stand-in for an awaited HTTP call. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

const heapMiB = (): number => {
  if (globalThis.gc !== undefined) globalThis.gc()
  return process.memoryUsage().heapUsed / 1024 / 1024
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN

interface Figures {
  readonly seconds: number
  readonly opsPerSecond: number
  readonly p50: number
  readonly p99: number
  readonly heapBefore: number
  readonly heapBusy: number
  readonly heapIdle: number
  readonly keysBusy: number
  readonly keysIdle: number
  readonly waitersSeconds: number
  readonly waitersInOrder: boolean
}

// ---- baseline: per-key promise chains + FIFO global limiter -------------------------------------

const makeBaseline = (concurrency: number) => {
  let active = 0
  const waiting: Array<() => void> = []
  const acquire = (): Promise<void> => {
    if (active < concurrency) {
      active++
      return Promise.resolve()
    }
    return new Promise((resolve) => waiting.push(resolve))
  }
  const release = (): void => {
    const next = waiting.shift()
    if (next === undefined) active--
    else next() // hand the permit over: a releasing key cannot overtake a waiting one
  }
  const chains = new Map<number, Promise<void>>()
  const submit = (key: number, job: () => Promise<void>): Promise<void> => {
    const run = (chains.get(key) ?? Promise.resolve()).then(async () => {
      await acquire()
      try {
        await job()
      } finally {
        release()
      }
    })
    const tail = run.catch(() => undefined)
    chains.set(key, tail)
    void tail.then(() => {
      if (chains.get(key) === tail) chains.delete(key)
    })
    return run
  }
  return { submit, keys: () => chains.size }
}

const runBaseline = async (): Promise<Figures> => {
  const heapBefore = heapMiB()
  const baseline = makeBaseline(CONCURRENCY)
  const waits: Array<number> = []
  const started = performance.now()
  const runs: Array<Promise<void>> = []
  for (let i = 0; i < OPS; i++) {
    const submittedAt = performance.now()
    runs.push(baseline.submit(i % VMIDS, () => {
      waits.push(performance.now() - submittedAt)
      return tick()
    }))
  }
  const keysBusy = baseline.keys()
  const heapBusy = heapMiB()
  await Promise.all(runs)
  const seconds = (performance.now() - started) / 1000
  runs.length = 0
  await new Promise((resolve) => setTimeout(resolve, IDLE_TTL_MS * 2))
  const heapIdle = heapMiB()
  const keysIdle = baseline.keys()

  const order: Array<number> = []
  const waitersStarted = performance.now()
  await Promise.all(Array.from({ length: WAITERS }, (_, i) =>
    baseline.submit(-1, async () => {
      order.push(i)
      await tick()
    })))
  const waitersSeconds = (performance.now() - waitersStarted) / 1000
  waits.sort((a, b) => a - b)
  return {
    seconds,
    opsPerSecond: OPS / seconds,
    p50: percentile(waits, 50),
    p99: percentile(waits, 99),
    heapBefore,
    heapBusy,
    heapIdle,
    keysBusy,
    keysIdle,
    waitersSeconds,
    waitersInOrder: order.every((value, index) => value === index)
  }
}

// ---- GuestQueue ----------------------------------------------------------------------------------

const runGuestQueue: Effect.Effect<Figures> = Effect.gen(function*() {
  const queue = yield* GuestQueue
  const heapBefore = heapMiB()
  const waits: Array<number> = []
  const started = performance.now()
  const tickets: Array<Effect.Effect<void, unknown>> = []
  for (let i = 0; i < OPS; i++) {
    const submittedAt = performance.now()
    // `enqueue` fixes the order in this fiber; awaiting is separate, as the Engine would do.
    tickets.push(yield* queue.enqueue(makeVmid(100 + (i % VMIDS)), "ordered", Effect.suspend(() => {
      waits.push(performance.now() - submittedAt)
      return Effect.promise(tick)
    })))
  }
  const keysBusy = (yield* queue.stats).lanes
  const heapBusy = heapMiB()
  yield* Effect.forEach(tickets, (ticket) => Effect.ignore(ticket), { discard: true })
  const seconds = (performance.now() - started) / 1000
  tickets.length = 0
  yield* Effect.sleep(IDLE_TTL_MS * 2)
  const heapIdle = heapMiB()
  const keysIdle = (yield* queue.stats).lanes

  const order: Array<number> = []
  const waitersStarted = performance.now()
  const waiters = yield* Effect.forEach(Array.from({ length: WAITERS }, (_, i) => i), (i) =>
    queue.enqueue(makeVmid(999_999_999), "ordered", Effect.zipRight(
      Effect.sync(() => order.push(i)),
      Effect.promise(tick)
    )))
  yield* Effect.forEach(waiters, Effect.ignore, { concurrency: "unbounded", discard: true })
  const waitersSeconds = (performance.now() - waitersStarted) / 1000
  waits.sort((a, b) => a - b)
  return {
    seconds,
    opsPerSecond: OPS / seconds,
    p50: percentile(waits, 50),
    p99: percentile(waits, 99),
    heapBefore,
    heapBusy,
    heapIdle,
    keysBusy,
    keysIdle,
    waitersSeconds,
    waitersInOrder: order.every((value, index) => value === index)
  }
}).pipe(Effect.provide(GuestQueue.layer({ concurrency: CONCURRENCY, idleTtl: IDLE_TTL_MS })))

// ---- report --------------------------------------------------------------------------------------

const fmt = (n: number, digits = 2): string => n.toFixed(digits)
const ratio = (ours: number, base: number): string => (base === 0 ? "n/a" : `${fmt(ours / base)}x`)

const main = async (): Promise<void> => {
  console.log(`node ${process.version}, gc ${globalThis.gc === undefined ? "unavailable (heap is noisy)" : "forced"}`)
  console.log(`${OPS} ops over ${VMIDS} vmids, concurrency ${CONCURRENCY}, job = one setImmediate turn\n`)
  const base = await runBaseline()
  const ours = await Effect.runPromise(runGuestQueue)
  const rows: Array<[string, string, string, string]> = [
    ["wall time (s)", fmt(ours.seconds), fmt(base.seconds), ratio(ours.seconds, base.seconds)],
    ["throughput (ops/s)", fmt(ours.opsPerSecond, 0), fmt(base.opsPerSecond, 0), ratio(ours.opsPerSecond, base.opsPerSecond)],
    ["wait p50 (ms)", fmt(ours.p50), fmt(base.p50), ratio(ours.p50, base.p50)],
    ["wait p99 (ms)", fmt(ours.p99), fmt(base.p99), ratio(ours.p99, base.p99)],
    ["heap before (MiB)", fmt(ours.heapBefore), fmt(base.heapBefore), ""],
    ["heap, all queued (MiB)", fmt(ours.heapBusy), fmt(base.heapBusy), ratio(ours.heapBusy - ours.heapBefore, base.heapBusy - base.heapBefore) + " (growth)"],
    ["heap, lanes idle+TTL (MiB)", fmt(ours.heapIdle), fmt(base.heapIdle), ""],
    ["lanes/keys while queued", String(ours.keysBusy), String(base.keysBusy), ""],
    ["lanes/keys after TTL", String(ours.keysIdle), String(base.keysIdle), ""],
    [`${WAITERS} waiters, one vmid (s)`, fmt(ours.waitersSeconds, 3), fmt(base.waitersSeconds, 3), ratio(ours.waitersSeconds, base.waitersSeconds)],
    ["  ... ran in submit order", String(ours.waitersInOrder), String(base.waitersInOrder), ""]
  ]
  const widths = [0, 1, 2, 3].map((c) => Math.max(...[["", "GuestQueue", "baseline", "ratio"], ...rows].map((r) => (r[c] ?? "").length)))
  for (const row of [["", "GuestQueue", "baseline", "ratio"], ...rows]) {
    console.log(row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join("  "))
  }
}

void main()
