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
import { type Context, Effect } from "effect"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import PQueue from "p-queue"
import { makeVmid, type Vmid } from "../src/domain/Vmid.js"
import { GuestQueue } from "../src/reconcile/GuestQueue.js"
import { isMain, parseArgs } from "./lib/benchArgs.js"
import { type Figure, figuresTable, fromRounds, median, table } from "./lib/benchFigures.js"

export interface QueueBenchOptions {
  readonly ops: number
  readonly rounds: number
  readonly waiters: number
  readonly bottleneck: boolean
  /** A directory holding another GuestQueue.ts (and the files it imports), measured alongside. */
  readonly compare?: string | undefined
}

export const defaultQueueOptions: QueueBenchOptions = { ops: 100_000, rounds: 5, waiters: 1_000, bottleneck: true }

const VMIDS = 1_000
const CONCURRENCY = 4
const IDLE_TTL_MS = 200

/** The job body everywhere: one macrotask turn, as a stand-in for an awaited HTTP call. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const gc = (): void => globalThis.gc?.()

const heapMiB = (): number => {
  gc()
  gc()
  return process.memoryUsage().heapUsed / 1024 / 1024
}

const cpuMicros = (): number => {
  const c = process.cpuUsage()
  return c.user + c.system
}

const percentile = (sorted: Float64Array, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN

/** One timed pass over every op. */
export interface QueueRun {
  readonly seconds: number
  readonly opsPerSecond: number
  /** Process CPU (user + system) per op, µs: less sensitive than wall time to other load. */
  readonly cpuMicrosPerOp: number
  readonly p50: number
  readonly p99: number
  readonly fifo: boolean
}

/** Measured once per contender, outside the timed rounds. */
export interface QueueExtras {
  readonly heapBefore: number
  readonly heapQueued: number
  readonly heapIdle: number
  readonly keysQueued: number
  readonly keysIdle: number
  readonly waitersSeconds: number
  readonly waitersInOrder: boolean
}

export interface QueueContender {
  readonly name: string
  readonly runs: ReadonlyArray<QueueRun>
  readonly extras?: QueueExtras | undefined
}

/** Per-run probes: wait time of every op and a per-key FIFO check, allocated up front. */
const makeProbe = (ops: number) => {
  const waits = new Float64Array(ops)
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
      return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), fifo: fifo && startedCount === ops }
    }
  }
}

/** Starts a timed pass after a forced GC; `done` turns the probe's result into a QueueRun. */
const startTimer = (ops: number) => {
  gc()
  const cpu0 = cpuMicros()
  const started = performance.now()
  return (probe: { p50: number; p99: number; fifo: boolean }): QueueRun => {
    const seconds = (performance.now() - started) / 1000
    return { seconds, opsPerSecond: ops / seconds, cpuMicrosPerOp: (cpuMicros() - cpu0) / ops, ...probe }
  }
}

// ---- promise-based contenders ---------------------------------------------------------------

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

const promiseRun = async (ops: number, make: () => PromiseLanes): Promise<QueueRun> => {
  const done = startTimer(ops)
  const lanes = make()
  const probe = makeProbe(ops)
  const runs: Array<Promise<void>> = new Array(ops)
  for (let i = 0; i < ops; i++) {
    const submittedAt = performance.now()
    runs[i] = lanes.submit(i % VMIDS, () => {
      probe.started(i, submittedAt)
      return tick()
    })
  }
  await Promise.all(runs)
  return done(probe.result())
}

const promiseExtras = async (options: QueueBenchOptions, make: () => PromiseLanes): Promise<QueueExtras> => {
  const heapBefore = heapMiB()
  const burst = make()
  const runs: Array<Promise<void>> = []
  for (let i = 0; i < options.ops; i++) runs.push(burst.submit(i % VMIDS, tick))
  const heapQueued = heapMiB()
  const keysQueued = burst.keys()
  await Promise.all(runs)
  runs.length = 0
  await sleep(IDLE_TTL_MS * 3)
  const heapIdle = heapMiB()
  const keysIdle = burst.keys()

  const order: Array<number> = []
  const waiters = make()
  const waitersStarted = performance.now()
  await Promise.all(Array.from({ length: options.waiters }, (_, i) =>
    waiters.submit(-1, async () => {
      order.push(i)
      await tick()
    })))
  const waitersSeconds = (performance.now() - waitersStarted) / 1000
  await sleep(IDLE_TTL_MS * 3)
  return {
    heapBefore,
    heapQueued,
    heapIdle,
    keysQueued,
    keysIdle,
    waitersSeconds,
    waitersInOrder: order.length === options.waiters && order.every((value, index) => value === index)
  }
}

// ---- GuestQueue ----------------------------------------------------------------------------------

type QueueModule = { readonly GuestQueue: typeof GuestQueue }

const vmids: ReadonlyArray<Vmid> = Array.from({ length: VMIDS }, (_, k) => makeVmid(100 + k))
const vmidOf = (i: number): Vmid => vmids[i % VMIDS] ?? makeVmid(100)

const withQueue = <A, E>(
  mod: QueueModule,
  concurrency: number,
  body: (queue: Context.Tag.Service<GuestQueue>) => Effect.Effect<A, E>
): Promise<A> =>
  Effect.runPromise(Effect.scoped(
    Effect.flatMap(mod.GuestQueue, body).pipe(
      Effect.provide(mod.GuestQueue.layer({ concurrency, idleTtl: IDLE_TTL_MS }))
    )
  ))

const guestQueueRun = (ops: number, mod: QueueModule, concurrency: number): Promise<QueueRun> =>
  withQueue(mod, concurrency, (queue) =>
    Effect.gen(function*() {
      const done = startTimer(ops)
      const probe = makeProbe(ops)
      const tickets: Array<Effect.Effect<void, unknown>> = new Array(ops)
      for (let i = 0; i < ops; i++) {
        const submittedAt = performance.now()
        // `enqueue` fixes the order in this fiber; awaiting is separate, as the Engine would do.
        tickets[i] = yield* queue.enqueue(
          vmidOf(i),
          "ordered",
          Effect.suspend(() => {
            probe.started(i, submittedAt)
            return Effect.promise(tick)
          })
        )
      }
      // Awaited like `Promise.all`: in order, failing fast (no job fails here).
      yield* Effect.all(tickets, { discard: true })
      return done(probe.result())
    }))

const guestQueueExtras = async (
  options: QueueBenchOptions,
  mod: QueueModule,
  concurrency: number
): Promise<QueueExtras> => {
  const heapBefore = heapMiB()
  const burst = await withQueue(mod, concurrency, (queue) =>
    Effect.gen(function*() {
      const tickets: Array<Effect.Effect<void, unknown>> = []
      for (let i = 0; i < options.ops; i++) {
        tickets.push(yield* queue.enqueue(vmidOf(i), "ordered", Effect.promise(tick)))
      }
      const heapQueued = heapMiB()
      const keysQueued = (yield* queue.stats).lanes
      yield* Effect.all(tickets, { discard: true })
      tickets.length = 0
      yield* Effect.promise(() => sleep(IDLE_TTL_MS * 3))
      return { heapQueued, keysQueued, heapIdle: heapMiB(), keysIdle: (yield* queue.stats).lanes }
    }))
  const waiters = await withQueue(mod, concurrency, (queue) =>
    Effect.gen(function*() {
      const order: Array<number> = []
      const one = makeVmid(999_999_999)
      const started = performance.now()
      const all: Array<Effect.Effect<void, unknown>> = []
      for (let i = 0; i < options.waiters; i++) {
        all.push(
          yield* queue.enqueue(one, "ordered", Effect.zipRight(Effect.sync(() => order.push(i)), Effect.promise(tick)))
        )
      }
      // Awaited in order like the main run (they finish in submit order anyway). Awaiting them
      // with `concurrency: "unbounded"` would measure Effect's fork-join of 1,000 fibers instead
      // (240 ms with no GuestQueue at all, measured).
      yield* Effect.all(all, { discard: true })
      return {
        waitersSeconds: (performance.now() - started) / 1000,
        waitersInOrder: order.length === options.waiters && order.every((value, index) => value === index)
      }
    }))
  return { heapBefore, ...burst, ...waiters }
}

// ---- the Effect floor ------------------------------------------------------------------------

/**
 * No queue at all: one fiber per vmid runs that vmid's jobs in a loop (the same job body). What
 * running the jobs on Effect fibers costs by itself — the ceiling for any fiber-based queue.
 */
const effectFloorRun = async (ops: number): Promise<QueueRun> => {
  const done = startTimer(ops)
  const job = Effect.suspend(() => Effect.promise(tick))
  await Effect.runPromise(
    Effect.forEach(Array.from({ length: VMIDS }, (_, i) => i), () => Effect.repeatN(job, ops / VMIDS - 1), {
      concurrency: "unbounded",
      discard: true
    })
  )
  return done({ p50: Number.NaN, p99: Number.NaN, fifo: true })
}

// ---- the run -----------------------------------------------------------------------------------

interface Entry {
  readonly key: string
  readonly name: string
  readonly run: () => Promise<QueueRun>
  readonly extras?: () => Promise<QueueExtras>
  readonly firstRoundOnly?: boolean
}

// Another revision of the same module, so a GuestQueue export has this revision's service shape.
const isQueueModule = (loaded: unknown): loaded is QueueModule =>
  typeof loaded === "object" && loaded !== null && "GuestQueue" in loaded

const loadCompare = async (dir: string): Promise<QueueModule> => {
  const loaded: unknown = await import(path.resolve(dir, "GuestQueue.ts"))
  return isQueueModule(loaded) ? loaded : Promise.reject(new Error(`${dir}/GuestQueue.ts exports no GuestQueue`))
}

export const runQueueBench = async (options: QueueBenchOptions, log: (line: string) => void = console.log): Promise<{
  readonly contenders: ReadonlyArray<QueueContender>
  readonly figures: ReadonlyArray<Figure>
}> => {
  const { ops } = options
  if (ops % VMIDS !== 0) return Promise.reject(new Error(`--ops must be a multiple of ${VMIDS}`))
  const current: QueueModule = { GuestQueue }
  const compare = options.compare === undefined ? undefined : await loadCompare(options.compare)
  const entries: Array<Entry> = [
    {
      key: "gq1000",
      name: `GuestQueue c=${VMIDS}`,
      run: () => guestQueueRun(ops, current, VMIDS),
      extras: () => guestQueueExtras(options, current, VMIDS)
    },
    {
      key: "gq4",
      name: `GuestQueue c=${CONCURRENCY}`,
      run: () => guestQueueRun(ops, current, CONCURRENCY),
      extras: () => guestQueueExtras(options, current, CONCURRENCY)
    },
    {
      key: "pq",
      name: "Map of p-queues",
      run: () => promiseRun(ops, makePQueues),
      extras: () => promiseExtras(options, makePQueues)
    },
    {
      key: "naive",
      name: `naive chains, global ${CONCURRENCY}`,
      run: () => promiseRun(ops, () => makeBaseline(CONCURRENCY)),
      extras: () => promiseExtras(options, () => makeBaseline(CONCURRENCY))
    },
    { key: "floor", name: "Effect floor (no queue)", run: () => effectFloorRun(ops) },
    ...(options.bottleneck
      ? [{
        key: "bottleneck",
        name: "Bottleneck.Group",
        run: () => promiseRun(ops, makeBottleneck),
        extras: () => promiseExtras(options, makeBottleneck),
        firstRoundOnly: true
      }]
      : []),
    ...(compare === undefined ? [] : [
      {
        key: "cmp1000",
        name: `GuestQueue@compare c=${VMIDS}`,
        run: () => guestQueueRun(ops, compare, VMIDS),
        extras: () => guestQueueExtras(options, compare, VMIDS)
      },
      { key: "cmp4", name: `GuestQueue@compare c=${CONCURRENCY}`, run: () => guestQueueRun(ops, compare, CONCURRENCY) }
    ])
  ]

  // Warm-up: load and JIT every contender once, so the first round is not the slow one.
  const warm = Math.min(ops, 5_000)
  await withQueue(
    current,
    CONCURRENCY,
    (q) =>
      Effect.forEach(
        Array.from({ length: warm }, (_, i) => i),
        (i) => q.submit(vmidOf(i % 50), "ordered", Effect.promise(tick)),
        { concurrency: "unbounded", discard: true }
      )
  )
  for (const make of [makePQueues, () => makeBaseline(CONCURRENCY)]) {
    const lanes = make()
    await Promise.all(Array.from({ length: warm }, (_, i) => lanes.submit(i % 50, tick)))
  }
  await effectFloorRun(VMIDS * 5)

  const runs = new Map<string, Array<QueueRun>>(entries.map((e) => [e.key, []]))
  for (let round = 0; round < options.rounds; round++) {
    const active = entries.filter((e) => round === 0 || e.firstRoundOnly !== true)
    const order = active.map((_, i) => active[(i + round) % active.length]).filter((e): e is Entry => e !== undefined)
    for (const entry of order) runs.get(entry.key)?.push(await entry.run())
    log(
      `queue round ${round + 1}/${options.rounds}: ${
        order.map((e) => `${e.name} ${Math.round(runs.get(e.key)?.at(-1)?.opsPerSecond ?? 0)}`).join(", ")
      } ops/s`
    )
  }
  const extras = new Map<string, QueueExtras>()
  for (const entry of entries) {
    if (entry.extras === undefined) continue
    extras.set(entry.key, await entry.extras())
    log(`queue heap and waiters: ${entry.name} done`)
  }
  await sleep(IDLE_TTL_MS * 3)

  const contenders = entries.map((e): QueueContender => ({
    name: e.name,
    runs: runs.get(e.key) ?? [],
    extras: extras.get(e.key)
  }))
  return { contenders, figures: queueFigures(entries, runs, extras) }
}

const queueFigures = (
  entries: ReadonlyArray<Entry>,
  runs: ReadonlyMap<string, ReadonlyArray<QueueRun>>,
  extras: ReadonlyMap<string, QueueExtras>
): Array<Figure> => {
  const name = (key: string) => entries.find((e) => e.key === key)?.name ?? key
  const figures: Array<Figure> = []
  /** Per-round pairs of one measure; a first-round-only peer pairs with our first round. */
  const pairs = (ours: string, base: string, pick: (r: QueueRun) => number) => {
    const b = runs.get(base) ?? []
    return (runs.get(ours) ?? []).flatMap((a, i) => {
      const peer = b[i]
      return peer === undefined ? [] : [[pick(a), pick(peer)] as const]
    })
  }
  const throughput = (ours: string, base: string, target?: string) => {
    if (!runs.get(ours)?.length || !runs.get(base)?.length) return
    figures.push(
      fromRounds(
        { group: "queue", name: `${name(ours)} / ${name(base)}`, metric: "throughput", unit: "ops/s", target },
        pairs(ours, base, (r) => r.opsPerSecond)
      )
    )
  }
  throughput("gq1000", "pq", ">= 1.0")
  throughput("gq4", "naive", ">= 0.8")
  throughput("gq1000", "bottleneck", ">= 1.0")
  throughput("gq1000", "floor")
  throughput("floor", "pq")
  throughput("gq1000", "cmp1000")
  throughput("gq4", "cmp4")
  for (const [ours, base] of [["gq1000", "pq"], ["gq4", "naive"]] as const) {
    if (!runs.get(ours)?.length || !runs.get(base)?.length) continue
    figures.push(
      fromRounds(
        { group: "queue", name: `${name(ours)} / ${name(base)}`, metric: "CPU per op", unit: "µs" },
        pairs(ours, base, (r) => r.cpuMicrosPerOp)
      )
    )
    figures.push(
      fromRounds(
        { group: "queue", name: `${name(ours)} / ${name(base)}`, metric: "wait p99", unit: "ms" },
        pairs(ours, base, (r) => r.p99)
      )
    )
  }
  for (const key of ["gq1000", "gq4"]) {
    const all = runs.get(key) ?? []
    if (all.length === 0) continue
    const fifo = all.filter((r) => r.fifo).length
    figures.push({
      group: "queue",
      name: `${name(key)}`,
      metric: "runs in per-vmid FIFO",
      ours: fifo,
      base: all.length,
      unit: "",
      ratio: fifo / all.length,
      target: "= 1"
    })
  }
  const gq = extras.get("gq4")
  const pq = extras.get("pq")
  if (gq !== undefined) {
    figures.push({
      group: "queue",
      name: name("gq4"),
      metric: "heap idle / before",
      ours: gq.heapIdle,
      base: gq.heapBefore,
      unit: "MiB",
      ratio: gq.heapIdle / gq.heapBefore,
      target: "<= 1.1"
    })
    figures.push({
      group: "queue",
      name: `${name("gq4")}, ${gq.waitersInOrder ? "in order" : "OUT OF ORDER"}`,
      metric: "1,000 waiters on one vmid: in order",
      ours: gq.waitersInOrder ? 1 : 0,
      base: 1,
      unit: "",
      ratio: gq.waitersInOrder ? 1 : 0,
      target: "= 1"
    })
  }
  if (gq !== undefined && pq !== undefined) {
    figures.push({
      group: "queue",
      name: `${name("gq4")} / ${name("pq")}`,
      metric: "heap growth, all queued",
      ours: gq.heapQueued - gq.heapBefore,
      base: pq.heapQueued - pq.heapBefore,
      unit: "MiB",
      ratio: (gq.heapQueued - gq.heapBefore) / (pq.heapQueued - pq.heapBefore)
    })
    figures.push({
      group: "queue",
      name: `${name("gq4")} / ${name("pq")}`,
      metric: "1,000 waiters on one vmid",
      ours: gq.waitersSeconds,
      base: pq.waitersSeconds,
      unit: "s",
      ratio: gq.waitersSeconds / pq.waitersSeconds
    })
  }
  const bn = extras.get("bottleneck")
  if (gq !== undefined && bn !== undefined) {
    figures.push({
      group: "queue",
      name: `${name("gq4")} / ${name("bottleneck")}`,
      metric: "1,000 waiters on one vmid",
      ours: gq.waitersSeconds,
      base: bn.waitersSeconds,
      unit: "s",
      ratio: gq.waitersSeconds / bn.waitersSeconds
    })
  }
  return figures
}

/** Every contender's own figures: medians over its rounds, and the extras. */
export const contendersTable = (contenders: ReadonlyArray<QueueContender>): string => {
  const f = (n: number | undefined, digits = 2) => (n === undefined || Number.isNaN(n) ? "–" : n.toFixed(digits))
  return table([
    [
      "contender",
      "rounds",
      "ops/s (median)",
      "CPU µs/op",
      "wait p50 ms",
      "wait p99 ms",
      "FIFO",
      "heap before/queued/idle MiB",
      "keys queued/idle",
      "waiters s",
      "waiters FIFO"
    ],
    ...contenders.map((c) => [
      c.name,
      String(c.runs.length),
      f(median(c.runs.map((r) => r.opsPerSecond)), 0),
      f(median(c.runs.map((r) => r.cpuMicrosPerOp))),
      f(median(c.runs.map((r) => r.p50))),
      f(median(c.runs.map((r) => r.p99))),
      String(c.runs.every((r) => r.fifo)),
      c.extras === undefined
        ? "–"
        : `${f(c.extras.heapBefore, 1)} / ${f(c.extras.heapQueued, 1)} / ${f(c.extras.heapIdle, 1)}`,
      c.extras === undefined ? "–" : `${c.extras.keysQueued}/${c.extras.keysIdle}`,
      f(c.extras?.waitersSeconds, 3),
      c.extras === undefined ? "–" : String(c.extras.waitersInOrder)
    ])
  ])
}

export const queueOptionsFromArgs = (args = parseArgs()): QueueBenchOptions => ({
  ops: args.number("ops", defaultQueueOptions.ops, "BENCH_OPS"),
  rounds: args.number("rounds", defaultQueueOptions.rounds, "BENCH_ROUNDS"),
  waiters: args.number("waiters", defaultQueueOptions.waiters, "BENCH_WAITERS"),
  bottleneck: !args.flag("no-bottleneck"),
  compare: args.string("compare", "BENCH_QUEUE_COMPARE")
})

if (isMain(import.meta.url)) {
  const options = queueOptionsFromArgs()
  console.log(
    `node ${process.version}, gc ${
      globalThis.gc === undefined ? "unavailable (heap figures are noisy; run with --expose-gc)" : "forced"
    }`
  )
  console.log(
    `${options.ops} ops over ${VMIDS} vmids, ${options.rounds} rounds, ${options.waiters} waiters on one vmid, job = one setImmediate turn, idle TTL ${IDLE_TTL_MS} ms\n`
  )
  const result = await runQueueBench(options)
  console.log(`\n${contendersTable(result.contenders)}\n`)
  console.log(figuresTable(result.figures))
  if (process.env.BENCH_JSON !== undefined) console.log(JSON.stringify(result))
}
