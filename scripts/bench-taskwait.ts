/**
 * Task-wait benchmark: detection latency (task end → caller knows) and status requests per task
 * of `waitTask` (50 ms doubling to 1 s) against a fixed 1 s poll (what bpg's terraform provider
 * does), for simulated tasks of 0.1 s, 1 s and 30 s, over real HTTPS to the simulator. Task end
 * = the moment the simulator's task engine was set to finish (start + duration); both waiters
 * start right after the UPID is returned.
 *
 * The fixed poller runs at a random phase against the task: its first poll comes after a
 * uniformly random offset in (0, 1 s] (seeded), then every 1 s — a provider's poll loop does not
 * start in step with the task. Without the offset a 1 s task ends just before the poller's first
 * poll at exactly 1 s, which flatters the fixed poller. waitTask starts polling at once, as it
 * does in the agent. The two waiters of a row run side by side (separate simulators), so the
 * 30 s row costs ~30 s per sample, not 60.
 *
 *   npm run bench:taskwait
 *   npm run bench:taskwait -- --samples 10 --long-samples 2 --durations 100,1000,30000 --seed 1
 */
import { Context, Duration, Effect, Layer, Logger, LogLevel, Schema } from "effect"
import { performance } from "node:perf_hooks"
import { GuestRef } from "../src/domain/Guest.js"
import type { UpidString } from "../src/domain/Upid.js"
import { Pve } from "../src/pve/Pve.js"
import { makeConnectionSettings, PveConnection } from "../src/pve/PveConnection.js"
import { waitTask } from "../src/pve/waitTask.js"
import { startSimulator } from "../src/sim/Simulator.js"
import { isMain, parseArgs } from "./lib/benchArgs.js"
import { type Figure, figuresTable } from "./lib/benchFigures.js"

export interface TaskwaitBenchOptions {
  /** Samples per row for tasks shorter than 30 s. */
  readonly samples: number
  /** Samples per row for tasks of 30 s and more. */
  readonly longSamples: number
  readonly durations: ReadonlyArray<number>
  readonly seed: number
}

export const defaultTaskwaitOptions: TaskwaitBenchOptions = {
  samples: 8,
  longSamples: 2,
  durations: [100, 1_000, 30_000],
  seed: 1
}

export interface TaskwaitRow {
  readonly durationMs: number
  readonly samples: number
  readonly ours: { readonly mean: number; readonly p50: number; readonly requestsPerTask: number }
  readonly fixed: { readonly mean: number; readonly p50: number; readonly requestsPerTask: number }
}

/** mulberry32: a reproducible phase per sample. */
const makeRandom = (initial: number) => {
  let seed = initial
  return (): number => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = seed
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const fixedPoll = (
  status: (u: UpidString) => Effect.Effect<{ readonly status: string }, unknown>,
  upid: UpidString,
  phaseMs: number
) =>
  Effect.zipRight(
    Effect.sleep(Duration.millis(phaseMs)),
    Effect.flatMap(Effect.map(status(upid), (s) => s.status), (first) =>
      Effect.iterate(first as string, {
        while: (s) => s !== "stopped",
        body: () => Effect.zipRight(Effect.sleep("1 second"), Effect.map(status(upid), (s) => s.status))
      }))
  )

const measure = (durationMs: number, phases: ReadonlyArray<number>, mode: "waitTask" | "fixed") =>
  Effect.scoped(Effect.gen(function*() {
    const sim = yield* startSimulator({
      guests: [{ vmid: 100, type: "qemu", status: "stopped", config: { name: "t", memory: 512 } }],
      taskDuration: durationMs,
      authFailureDelay: 0
    })
    const pveLayer = Pve.layer.pipe(Layer.provide(Layer.effect(
      PveConnection,
      Effect.orDie(makeConnectionSettings({
        url: sim.url,
        token: { tokenId: sim.tokenId, secret: sim.tokenSecret },
        fingerprint: sim.fingerprint
      }))
    )))
    const pve = Context.get(yield* Layer.build(pveLayer), Pve)
    const ref = Schema.decodeUnknownSync(GuestRef)({ vmid: 100, node: "pve1", type: "qemu" })
    let requests = 0
    const status = (u: UpidString) =>
      Effect.zipRight(
        Effect.sync(() => {
          requests++
        }),
        pve.taskStatus(u)
      )
    const latencies: Array<number> = []
    const samples = phases.length
    for (let i = 0; i < samples; i++) {
      const action = i % 2 === 0 ? "start" : "stop"
      const answer = yield* pve.power(ref, action)
      const sentAt = performance.now()
      if (answer._tag !== "Task") return yield* Effect.dieMessage("expected a task")
      if (mode === "waitTask") yield* waitTask(status, answer.upid, Duration.minutes(2))
      else yield* fixedPoll(status, answer.upid, phases[i] ?? 1_000)
      latencies.push(performance.now() - sentAt - durationMs)
    }
    latencies.sort((a, b) => a - b)
    return {
      mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
      p50: latencies[Math.floor(latencies.length / 2)] ?? NaN,
      requestsPerTask: requests / samples
    }
  })).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)))

export const runTaskwaitBench = async (
  options: TaskwaitBenchOptions,
  log: (line: string) => void = console.log
): Promise<ReadonlyArray<TaskwaitRow>> => {
  const random = makeRandom(options.seed)
  const rows: Array<TaskwaitRow> = []
  for (const d of options.durations) {
    const n = d >= 30_000 ? options.longSamples : options.samples
    const phases = Array.from({ length: n }, () => 1 + Math.floor(random() * 1_000))
    const [ours, fixed] = await Promise.all([
      Effect.runPromise(measure(d, phases, "waitTask")),
      Effect.runPromise(measure(d, phases, "fixed"))
    ])
    log(
      `${(d / 1000).toString().padStart(4)} s task, ${n} samples: detection latency mean ${
        ours.mean.toFixed(0)
      } ms vs ${fixed.mean.toFixed(0)} ms → ${(ours.mean / fixed.mean).toFixed(2)}× ` +
        `(p50 ${ours.p50.toFixed(0)} vs ${fixed.p50.toFixed(0)} ms); ` +
        `requests/task ${ours.requestsPerTask.toFixed(1)} vs ${fixed.requestsPerTask.toFixed(1)} → ${
          (ours.requestsPerTask / fixed.requestsPerTask).toFixed(2)
        }×`
    )
    rows.push({ durationMs: d, samples: n, ours, fixed })
  }
  return rows
}

/** Targets: detection of a short task ≤ 0.2× the fixed poller's; no more requests for long ones. */
export const taskwaitFigures = (rows: ReadonlyArray<TaskwaitRow>): Array<Figure> =>
  rows.flatMap((r): Array<Figure> => {
    const name = `${r.durationMs / 1000} s task, waitTask / fixed 1 s poll`
    return [
      {
        group: "taskwait",
        name,
        metric: "detection latency (mean)",
        ours: r.ours.mean,
        base: r.fixed.mean,
        unit: "ms",
        ratio: r.ours.mean / r.fixed.mean,
        rounds: r.samples,
        target: r.durationMs <= 100 ? "<= 0.2" : undefined
      },
      {
        group: "taskwait",
        name,
        metric: "status requests per task",
        ours: r.ours.requestsPerTask,
        base: r.fixed.requestsPerTask,
        unit: "",
        ratio: r.ours.requestsPerTask / r.fixed.requestsPerTask,
        rounds: r.samples,
        target: r.durationMs >= 30_000 ? "<= 1.0" : undefined
      }
    ]
  })

export const taskwaitOptionsFromArgs = (args = parseArgs()): TaskwaitBenchOptions => ({
  samples: args.number("samples", defaultTaskwaitOptions.samples, "TASKWAIT_SAMPLES"),
  longSamples: args.number("long-samples", defaultTaskwaitOptions.longSamples, "TASKWAIT_LONG_SAMPLES"),
  durations: args.numbers("durations", defaultTaskwaitOptions.durations, "TASKWAIT_DURATIONS"),
  seed: args.number("seed", defaultTaskwaitOptions.seed, "TASKWAIT_SEED")
})

if (isMain(import.meta.url)) {
  const options = taskwaitOptionsFromArgs()
  console.log(
    `task wait: waitTask (50 ms doubling to 1 s) vs fixed 1 s poll at a random phase (seed ${options.seed}), node ${process.version}`
  )
  const rows = await runTaskwaitBench(options)
  console.log(`\n${figuresTable(taskwaitFigures(rows))}`)
}
