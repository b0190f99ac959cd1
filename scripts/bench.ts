/**
 * Every benchmark in one run, one table: each figure is a ratio against a peer or a floor
 * measured in the same run (GuestQueue against a map of p-queues, Bottleneck.Group, naive promise
 * chains and the Effect floor; a reconcile pass's calls against 1 + managed guests and its wall
 * time against ⌈(1 + N)/3⌉ × L; waitTask against a fixed 1 s poll; the built program's footprint
 * against bare node), with its target and whether it was met. The same figures, with the raw
 * measurements, the commit and the machine, go to bench-results.json, so runs on different
 * commits can be compared.
 *
 *   npm run bench                              (everything: about 10 minutes)
 *   npm run bench -- --quick                   (a smoke run: about 2 minutes)
 *   npm run bench -- --only queue,reconcile --guests 1000 --latency 10 --out /tmp/b.json
 *
 * Flags of the parts pass through: --ops, --rounds, --waiters, --no-bottleneck, --compare
 * (queue); --guests, --latency (reconcile); --samples, --long-samples, --durations (taskwait).
 * The footprint is measured by scripts/bench-footprint.ts as a child process (its "ratio …"
 * lines are parsed; its whole output is kept in the JSON).
 */
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { queueOptionsFromArgs, runQueueBench } from "./bench-queue.js"
import { reconcileFigures, reconcileOptionsFromArgs, runReconcileBench } from "./bench-reconcile.js"
import { runTaskwaitBench, taskwaitFigures, taskwaitOptionsFromArgs } from "./bench-taskwait.js"
import { parseArgs } from "./lib/benchArgs.js"
import { type Figure, figuresTable, verdict } from "./lib/benchFigures.js"

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const PARTS = ["queue", "reconcile", "taskwait", "footprint"] as const
type Part = typeof PARTS[number]

const args = parseArgs()
const quick = args.flag("quick")
const only = new Set((args.string("only") ?? PARTS.join(",")).split(",").map((p) => p.trim()))
const unknown = [...only].filter((p) => !PARTS.some((known) => known === p))
if (unknown.length > 0) {
  console.error(`--only: unknown part(s) ${unknown.join(", ")}; known: ${PARTS.join(", ")}`)
  process.exit(2)
}
const wants = (part: Part): boolean => only.has(part)
const out = path.resolve(args.string("out") ?? path.join(ROOT, "bench-results.json"))

// --quick changes only the defaults; explicit flags still win.
const queueOptions = queueOptionsFromArgs(
  quick ? parseArgs(["--ops", "20000", "--rounds", "3", "--no-bottleneck", ...process.argv.slice(2)]) : args
)
const reconcileOptions = reconcileOptionsFromArgs(
  quick ? parseArgs(["--guests", "1000", "--latency", "10", ...process.argv.slice(2)]) : args
)
const taskwaitOptions = taskwaitOptionsFromArgs(
  quick ? parseArgs(["--durations", "100,1000", "--samples", "4", ...process.argv.slice(2)]) : args
)

const git = (...gitArgs: Array<string>): string => {
  const r = ChildProcess.spawnSync("git", gitArgs, { cwd: ROOT, encoding: "utf8" })
  return r.status === 0 ? r.stdout.trim() : ""
}

const log = (line: string): void => console.log(`  ${line}`)

/** bench-footprint.ts prints `ratio <what>: <metric> <x>× bare node, <metric> <y>× bare node (…)`. */
const footprintFigures = (stdout: string): Array<Figure> =>
  stdout.split("\n").filter((line) => line.startsWith("ratio ")).flatMap((line) => {
    const body = line.slice("ratio ".length)
    const colon = body.indexOf(": ")
    if (colon < 0) return []
    const name = body.slice(0, colon)
    return body.slice(colon + 2).split(/,\s+(?![^(]*\))/).flatMap((part): Array<Figure> => {
      const m = /^(.*?)\s+([0-9.]+)×\s+([^(]*?)\s*(\(.*\))?$/.exec(part.trim())
      if (m === null) return []
      const metric = `${m[1] ?? ""}${m[4] === undefined ? "" : ` ${m[4]}`}`
      return [{
        group: "footprint",
        name: `${name} / ${(m[3] ?? "").trim()}`,
        metric,
        ours: Number.NaN,
        base: Number.NaN,
        unit: "",
        ratio: Number(m[2])
      }]
    })
  })

const runFootprint = (): Promise<
  { readonly exitCode: number | null; readonly stdout: string; readonly stderr: string }
> =>
  new Promise((resolve) => {
    const child = ChildProcess.spawn(process.execPath, [
      "--import",
      "tsx",
      path.join(ROOT, "scripts", "bench-footprint.ts")
    ], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...(quick && process.env.FOOTPRINT_RUNS === undefined ? { FOOTPRINT_RUNS: "1" } : {}) }
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString()
      for (const line of d.toString().split("\n")) if (line.trim() !== "") log(`footprint: ${line}`)
    })
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString()
    })
    child.once("close", (exitCode) => resolve({ exitCode, stdout, stderr }))
  })

const startedAt = new Date()
const loadStart = os.loadavg()
console.log(
  `bench: node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), load ${
    loadStart.map((l) => l.toFixed(2)).join(" ")
  }, ` +
    `gc ${globalThis.gc === undefined ? "not exposed (heap figures are noisy)" : "forced"}${quick ? ", --quick" : ""}`
)

const figures: Array<Figure> = []
const raw: Record<string, unknown> = {}
const failures: Array<string> = []

/** Runs one part; it returns a failure message, or rejects, when it could not measure. */
const part = async (name: Part, run: () => Promise<string | undefined>): Promise<void> => {
  if (!wants(name)) return
  console.log(`\n${name}:`)
  const failure = await run().catch((e: unknown) => (e instanceof Error ? e.message : String(e)))
  if (failure !== undefined) {
    failures.push(`${name}: ${failure}`)
    console.error(`${name} failed: ${failure}`)
  }
}

await part("queue", async () => {
  const result = await runQueueBench(queueOptions, log)
  figures.push(...result.figures)
  raw.queue = { options: queueOptions, contenders: result.contenders }
  return undefined
})
await part("reconcile", async () => {
  const passes = await runReconcileBench(reconcileOptions, log)
  figures.push(...reconcileFigures(passes))
  raw.reconcile = { options: reconcileOptions, passes }
  return undefined
})
await part("taskwait", async () => {
  const rows = await runTaskwaitBench(taskwaitOptions, log)
  figures.push(...taskwaitFigures(rows))
  raw.taskwait = { options: taskwaitOptions, rows }
  return undefined
})
await part("footprint", async () => {
  const result = await runFootprint()
  const parsed = footprintFigures(result.stdout)
  raw.footprint = result
  if (result.exitCode !== 0) {
    return `bench-footprint.ts exited ${result.exitCode}: ${result.stderr.trim().split("\n").slice(-3).join(" / ")}`
  }
  if (parsed.length === 0) return "bench-footprint.ts printed no \"ratio …\" line"
  figures.push(...parsed)
  return undefined
})

const loadEnd = os.loadavg()
console.log(
  `\nratios are ours / base, median of rounds [min–max]: throughput > 1 is better; time, CPU, wait, heap, calls, requests < 1 are\n`
)
console.log(figuresTable(figures))
const missed = figures.filter((f) => verdict(f) === false)
console.log(
  `\n${figures.length} figures, ${
    figures.filter((f) => verdict(f) === true).length
  } targets met, ${missed.length} missed` +
    `${failures.length > 0 ? `; FAILED: ${failures.join("; ")}` : ""}; load ${loadStart[0]?.toFixed(2)} → ${
      loadEnd[0]?.toFixed(2)
    }`
)

const commit = git("rev-parse", "HEAD")
fs.writeFileSync(
  out,
  `${
    JSON.stringify(
      {
        schema: 1,
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        commit,
        dirty: git("status", "--porcelain", "--untracked-files=no") !== "",
        machine: {
          node: process.version,
          cpus: os.cpus().length,
          model: os.cpus()[0]?.model,
          memoryGiB: os.totalmem() / 2 ** 30,
          loadStart,
          loadEnd
        },
        quick,
        failures,
        figures: figures.map((f) => ({ ...f, met: verdict(f) ?? null })),
        raw
      },
      (_, value: unknown) => (typeof value === "number" && !Number.isFinite(value) ? null : value),
      2
    )
  }\n`
)
console.log(`wrote ${out}`)
if (failures.length > 0) process.exitCode = 1
