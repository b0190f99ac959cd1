/**
 * GuestQueue benchmark: 100k ops over 1,000 vmids (throughput, p50/p99 wait, strict per-vmid
 * FIFO), heap before / with every job queued / after every lane went idle and was reclaimed, and
 * 1,000 waiters on one vmid (the O(n²) trap of a 3.22 Semaphore).
 *
 *   npm run bench:queue                               (node --expose-gc --import tsx scripts/bench-queue.ts)
 *   npm run bench:queue -- --ops 20000 --rounds 3 --no-bottleneck
 *   npm run bench:queue -- --compare /tmp/old/reconcile   (adds rows for another GuestQueue.ts)
 *
 * Contenders, same job body (one setImmediate turn, a stand-in for an awaited HTTP call), same
 * submit loop (every op submitted synchronously, then all awaited, as `Promise.all` does):
 * - GuestQueue, per-key only (concurrency = number of vmids, so no global bound): the
 *   apples-to-apples row against the peers, which have no global bound either;
 * - GuestQueue, production setting (concurrency 4, pve-ha-manager's max_workers);
 * - Bottleneck.Group (maxConcurrent 1 per key; its idle-limiter timeout = our idle TTL);
 * - a Map of p-queues (concurrency 1 per key; a key is dropped on its queue's `idle` event);
 * - naive per-key promise chains with a FIFO global limiter of 4 (the floor for the production
 *   row: no coalescing, no cancellation, no metrics);
 * - the Effect floor: no queue, one fiber per vmid looping over its jobs (what running the job
 *   body on Effect fibers costs by itself; throughput only).
 *
 * The machine is shared, so throughput is measured in rounds: each round runs every contender
 * once, back to back, in a rotated order, after a forced GC; a ratio is the median of the
 * per-round ratios, with its spread. Bottleneck (≈ 40× slower) runs in the first round only.
 */
import Bottleneck from "bottleneck"
import { Effect } from "effect"
import { performance } from "node:perf_hooks"
import PQueue from "p-queue"
import { makeVmid } from "../src/domain/Vmid.js"
import { GuestQueue } from "../src/reconcile/GuestQueue.js"

const OPS = Number(process.env.BENCH_OPS ?? 100_000)
const VMIDS = 1_000
const CONCURRENCY = 4
const WAITERS = Number(process.env.BENCH_WAITERS ?? 1_000)
const IDLE_TTL_MS = 200

/** The job body everywhere: one macrotask turn, as a stand-in for an awaited HTTP call. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const heapMiB = (): number => {
  if (globalThis.gc !== undefined) {
    globalThis.gc()
    globalThis.gc()
  }
  return process.memoryUsage().heapUsed / 1024 / 1024
}

const percentile = (sorted: Float64Array, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN

interface Figures {
  readonly name: string
  readonly seconds: number
  readonly opsPerSecond: number
  readonly p50: number
  readonly p99: number
  readonly fifo: boolean
  readonly heapBefore: number
  readonly heapBusy: number
  readonly heapIdle: number
  readonly keysBusy: number
  readonly keysIdle: number
  readonly waitersSeconds: number
  readonly waitersInOrder: boolean
}

/** Per-run probes: wait time of every op and a per-key FIFO check, allocated up front. */
const makeProbe = () => {
  const waits = new Float64Array(OPS)
  const lastSeq = new Int32Array(VMIDS).fill(-1)
  let startedCount = 0
  let fifo = true
  return {
    started: (i: number, submittedAt: number): void => {
      waits[startedCount++] = performance.now() - submittedAt
      const key = i % VMIDS
      const seq = Math.floor(i / VMIDS)
      if (seq <= (lastSeq[key] ?? -1)) fifo = false
      lastSeq[key] = seq
    },
    result: () => {
      const sorted = waits.slice(0, startedCount).sort()
      return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), fifo: fifo && startedCount === OPS }
    }
  }
}

// ---- promise-based contenders ---------------------------------------------------------------------

interface PromiseLanes {
  readonly submit: (key: number, job: () => Promise<void>) => Promise<void>
  readonly keys: () => number
}

/** Naive per-key promise chains + a FIFO global limiter with hand-over. */
const makeBaseline = (concurrency: number): PromiseLanes => {
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
    else next()
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

const makeBottleneck = (): PromiseLanes => {
  const group = new Bottleneck.Group({ maxConcurrent: 1, timeout: IDLE_TTL_MS })
  return {
    submit: (key, job) => group.key(String(key)).schedule(job),
    keys: () => group.keys().length
  }
}

const makePQueues = (): PromiseLanes => {
  const queues = new Map<number, PQueue>()
  return {
    submit: (key, job) => {
      let q = queues.get(key)
      if (q === undefined) {
        const created = new PQueue({ concurrency: 1 })
        created.on("idle", () => {
          if (queues.get(key) === created && created.size === 0 && created.pending === 0) queues.delete(key)
        })
        queues.set(key, created)
        q = created
      }
      return q.add(job, { throwOnTimeout: true })
    },
    keys: () => queues.size
  }
}

const runPromiseLanes = async (name: string, make: () => PromiseLanes): Promise<Figures> => {
  const heapBefore = heapMiB()
  const lanes = make()
  const probe = makeProbe()
  let runs: Array<Promise<void>> = new Array(OPS)
  const started = performance.now()
  for (let i = 0; i < OPS; i++) {
    const submittedAt = performance.now()
    runs[i] = lanes.submit(i % VMIDS, () => {
      probe.started(i, submittedAt)
      return tick()
    })
  }
  const keysBusy = lanes.keys()
  await Promise.all(runs)
  const seconds = (performance.now() - started) / 1000
  // Heap with everything queued is measured in a separate, untimed submit burst below.
  runs = []
  await sleep(IDLE_TTL_MS * 3)
  const heapIdle = heapMiB()
  const keysIdle = lanes.keys()

  const burst = make()
  const burstRuns: Array<Promise<void>> = []
  for (let i = 0; i < OPS; i++) burstRuns.push(burst.submit(i % VMIDS, tick))
  const heapBusy = heapMiB()
  await Promise.all(burstRuns)
  burstRuns.length = 0

  const order: Array<number> = []
  const waiters = make()
  const waitersStarted = performance.now()
  await Promise.all(Array.from({ length: WAITERS }, (_, i) =>
    waiters.submit(-1, async () => {
      order.push(i)
      await tick()
    })))
  const waitersSeconds = (performance.now() - waitersStarted) / 1000
  await sleep(IDLE_TTL_MS * 3)
  return {
    name, seconds, opsPerSecond: OPS / seconds, ...probe.result(), heapBefore, heapBusy, heapIdle, keysBusy, keysIdle,
    waitersSeconds, waitersInOrder: order.length === WAITERS && order.every((value, index) => value === index)
  }
}

// ---- GuestQueue ----------------------------------------------------------------------------------

const guestQueueRun = (concurrency: number): Effect.Effect<Figures> =>
  Effect.gen(function*() {
    const heapBefore = heapMiB()
    const probe = makeProbe()
    const tickets: Array<Effect.Effect<void, unknown>> = new Array(OPS)
    // Validated once, outside the timed loop: the peers get plain numbers for free.
    const vmids = Array.from({ length: VMIDS }, (_, k) => makeVmid(100 + k))
    const timed = Effect.scoped(Effect.gen(function*() {
      const queue = yield* GuestQueue
      const started = performance.now()
      for (let i = 0; i < OPS; i++) {
        const submittedAt = performance.now()
        // `enqueue` fixes the order in this fiber; awaiting is separate, as the Engine would do.
        tickets[i] = yield* queue.enqueue(vmids[i % VMIDS] ?? makeVmid(100), "ordered", Effect.suspend(() => {
          probe.started(i, submittedAt)
          return Effect.promise(tick)
        }))
      }
      const keysBusy = (yield* queue.stats).lanes
      yield* Effect.forEach(tickets, Effect.ignore, { discard: true })
      const seconds = (performance.now() - started) / 1000
      tickets.length = 0
      yield* Effect.promise(() => sleep(IDLE_TTL_MS * 3))
      const heapIdle = heapMiB()
      const keysIdle = (yield* queue.stats).lanes
      return { seconds, keysBusy, keysIdle, heapIdle }
    }).pipe(Effect.provide(GuestQueue.layer({ concurrency, idleTtl: IDLE_TTL_MS }))))
    const main = yield* timed

    const heapBusy = yield* Effect.scoped(Effect.gen(function*() {
      const queue = yield* GuestQueue
      const burst: Array<Effect.Effect<void, unknown>> = []
      for (let i = 0; i < OPS; i++) burst.push(yield* queue.enqueue(makeVmid(100 + (i % VMIDS)), "ordered", Effect.promise(tick)))
      const heap = heapMiB()
      yield* Effect.forEach(burst, Effect.ignore, { discard: true })
      return heap
    }).pipe(Effect.provide(GuestQueue.layer({ concurrency, idleTtl: IDLE_TTL_MS }))))

    const waiters = yield* Effect.scoped(Effect.gen(function*() {
      const queue = yield* GuestQueue
      const order: Array<number> = []
      const waitersStarted = performance.now()
      const all = yield* Effect.forEach(Array.from({ length: WAITERS }, (_, i) => i), (i) =>
        queue.enqueue(makeVmid(999_999_999), "ordered", Effect.zipRight(
          Effect.sync(() => order.push(i)),
          Effect.promise(tick)
        )))
      // Awaited one after the other, like the main run: they finish in submit order anyway, so
      // this ends when the last one does, as the peers' Promise.all does. Awaiting them with
      // `concurrency: "unbounded"` instead measures Effect's fork-join of 1,000 fibers, not the
      // queue: 1,000 latches opened one per setImmediate turn, awaited that way, took 240 ms
      // with no GuestQueue at all (the sequential await: ≈ 20 ms with GuestQueue included).
      yield* Effect.forEach(all, Effect.ignore, { discard: true })
      return {
        waitersSeconds: (performance.now() - waitersStarted) / 1000,
        waitersInOrder: order.length === WAITERS && order.every((value, index) => value === index)
      }
    }).pipe(Effect.provide(GuestQueue.layer({ concurrency, idleTtl: IDLE_TTL_MS }))))

    return {
      name: `GuestQueue c=${concurrency}`,
      seconds: main.seconds, opsPerSecond: OPS / main.seconds, ...probe.result(),
      heapBefore, heapBusy, heapIdle: main.heapIdle, keysBusy: main.keysBusy, keysIdle: main.keysIdle, ...waiters
    }
  })

// ---- the Effect floor ------------------------------------------------------------------------

/**
 * No queue at all: one fiber per vmid runs that vmid's jobs in a loop (the same job body). What
 * running the jobs on Effect fibers costs by itself — the ceiling for any fiber-based queue.
 */
const effectFloorRun = (): Effect.Effect<Figures> =>
  Effect.gen(function*() {
    const started = performance.now()
    const job = Effect.suspend(() => Effect.promise(tick))
    yield* Effect.forEach(Array.from({ length: VMIDS }, (_, i) => i), () => Effect.repeatN(job, OPS / VMIDS - 1), {
      concurrency: "unbounded",
      discard: true
    })
    const seconds = (performance.now() - started) / 1000
    return {
      name: "Effect floor (no queue)", seconds, opsPerSecond: OPS / seconds, p50: Number.NaN, p99: Number.NaN, fifo: true,
      heapBefore: Number.NaN, heapBusy: Number.NaN, heapIdle: Number.NaN, keysBusy: VMIDS, keysIdle: 0,
      waitersSeconds: Number.NaN, waitersInOrder: true
    }
  })

// ---- the run -----------------------------------------------------------------------------------

const fmt = (n: number, digits = 2): string => n.toFixed(digits)
const ratio = (ours: number, base: number): string => (base === 0 || Number.isNaN(ours / base) ? "n/a" : `${fmt(ours / base)}x`)

const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)))
  return rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join("  ")).join("\n")
}

const row = (f: Figures): Array<string> => [
  f.name, fmt(f.opsPerSecond, 0), fmt(f.p50), fmt(f.p99), String(f.fifo), fmt(f.heapBefore), fmt(f.heapBusy), fmt(f.heapIdle),
  `${fmt(((f.heapIdle - f.heapBefore) / f.heapBefore) * 100, 1)}%`, `${f.keysBusy}/${f.keysIdle}`, fmt(f.waitersSeconds, 3), String(f.waitersInOrder)
]

const main = async (): Promise<void> => {
  console.log(`node ${process.version}, gc ${globalThis.gc === undefined ? "unavailable (heap figures are noisy; use npm run bench:queue)" : "forced"}`)
  console.log(`${OPS} ops over ${VMIDS} vmids, ${WAITERS} waiters on one vmid, job = one setImmediate turn, idle TTL ${IDLE_TTL_MS} ms\n`)
  // Warm-up: load and JIT every contender once, so "heap before" of the first row is not lower
  // than the rest merely because its code was not loaded yet.
  await Effect.runPromise(Effect.scoped(Effect.flatMap(GuestQueue, (q) =>
    Effect.forEach(Array.from({ length: 2_000 }, (_, i) => i), (i) => q.submit(makeVmid(100 + (i % 50)), "ordered", Effect.promise(tick)), { concurrency: "unbounded", discard: true })
  ).pipe(Effect.provide(GuestQueue.layer({ concurrency: CONCURRENCY, idleTtl: 10 })))))
  for (const make of [makeBottleneck, makePQueues, () => makeBaseline(CONCURRENCY)]) {
    const lanes = make()
    await Promise.all(Array.from({ length: 2_000 }, (_, i) => lanes.submit(i % 50, tick)))
  }
  await sleep(IDLE_TTL_MS * 3)
  const results: Array<Figures> = []
  const only = process.env.BENCH_ONLY?.split(",")
  const want = (name: string): boolean => only === undefined || only.some((o) => name.toLowerCase().includes(o.toLowerCase()))
  if (want("GuestQueue")) results.push(await Effect.runPromise(guestQueueRun(VMIDS)))
  if (want("Bottleneck")) results.push(await runPromiseLanes("Bottleneck.Group", makeBottleneck))
  if (want("p-queue")) results.push(await runPromiseLanes("Map of p-queues", makePQueues))
  if (want("GuestQueue")) results.push(await Effect.runPromise(guestQueueRun(CONCURRENCY)))
  if (want("floor")) results.push(await Effect.runPromise(effectFloorRun()))
  if (want("baseline")) results.push(await runPromiseLanes(`naive chains, global ${CONCURRENCY}`, () => makeBaseline(CONCURRENCY)))
  console.log(table([
    ["contender", "ops/s", "wait p50 ms", "wait p99 ms", "FIFO", "heap before", "heap queued", "heap idle", "idle vs before", "keys busy/idle", `${WAITERS} waiters s`, "waiters FIFO"],
    ...results.map(row)
  ]))
  const find = (prefix: string) => results.find((r) => r.name.startsWith(prefix))
  const pairs: Array<[Figures | undefined, Figures | undefined]> = [
    [find(`GuestQueue c=${VMIDS}`), find("Bottleneck")],
    [find(`GuestQueue c=${VMIDS}`), find("Map of p-queues")],
    [find("Effect floor"), find("Map of p-queues")],
    [find(`GuestQueue c=${VMIDS}`), find("Effect floor")],
    [find(`GuestQueue c=${CONCURRENCY}`), find("naive")]
  ]
  console.log("\nratios (GuestQueue / peer): throughput >1 better, waits and waiters time <1 better")
  const ratioRows: Array<Array<string>> = [["pair", "throughput", "wait p50", "wait p99", "heap growth queued", "1k waiters time"]]
  for (const [ours, peer] of pairs) {
    if (ours === undefined || peer === undefined) continue
    ratioRows.push([
      `${ours.name} vs ${peer.name}`, ratio(ours.opsPerSecond, peer.opsPerSecond), ratio(ours.p50, peer.p50), ratio(ours.p99, peer.p99),
      ratio(ours.heapBusy - ours.heapBefore, peer.heapBusy - peer.heapBefore), ratio(ours.waitersSeconds, peer.waitersSeconds)
    ])
  }
  console.log(table(ratioRows))
  if (process.env.BENCH_JSON !== undefined) console.log(JSON.stringify(results))
}

void main()
