/**
 * CLI and daemon footprint of the built program (dist/main.js, the esbuild bundle that
 * bin/felhom-agent.js runs), each figure next to bare node measured in the same run:
 *
 * - `felhom-agent --version`: wall time of the whole process and its peak RSS, against
 *   `node -e 0`. Peak RSS is VmHWM of /proc/self/status, reported at exit by a one-line
 *   `--import` hook given to both processes alike. (Not `process.resourceUsage().maxRSS`: Linux
 *   carries the forking parent's RSS into a child's maxrss across exec, so it read this
 *   script's own 69 MiB for `node -e 0`.)
 * - `felhom-agent daemon --config FILE` against the simulator (in this process, 8 guests,
 *   desired `empty`, reconcile.interval 200 ms): spawn → READY (/readyz answers 200, polled
 *   every 20 ms), then idle RSS (VmRSS from /proc/PID/status after ~5 passes), against
 *   `node -e "setInterval(…)"` (ready = its first stdout line, RSS after the same wait); once
 *   as is, once with NODE_OPTIONS=--max-semi-space-size=2 as nix/module.nix runs it.
 *
 * The bundle is rebuilt first (scripts/build.mjs). FOOTPRINT_ENTRY=path/to/main.js measures
 * another build instead (e.g. a `tsc` emit, for a before/after comparison); FOOTPRINT_RUNS sets
 * the runs per row (median reported, default 5).
 *
 *   npm run bench:footprint
 *   FOOTPRINT_RUNS=9 npm run bench:footprint
 */
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { Effect, Logger, LogLevel, Redacted } from "effect"
import { startSimulator } from "../src/sim/Simulator.js"
import { MAIN, ROOT } from "./lib/simChild.js"

const RUNS = Number(process.env.FOOTPRINT_RUNS ?? 3)
const IDLE_MS = 1_200 // ~5 passes at 200 ms plus slack
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const a = s.address()
      const port = typeof a === "object" && a !== null ? a.port : 0
      s.close(() => resolve(port))
    })
  })

const rssMiB = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  return m === null ? NaN : Number(m[1]) / 1024
}

const readyz = async (port: number): Promise<number> => {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1_000) })
    await r.text()
    return r.status
  } catch {
    return 0
  }
}

const kill = (child: ChildProcess.ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("close", () => resolve())
    child.kill("SIGKILL")
  })

interface Sample { readonly readyMs: number; readonly rssMiB: number }

/** spawn → predicate true (polled every 20 ms, at most 60 s), then RSS after the idle wait. */
const measure = async (argv: ReadonlyArray<string>, ready: (child: ChildProcess.ChildProcess, out: () => string) => Promise<boolean>): Promise<Sample> => {
  const t0 = performance.now()
  const child = ChildProcess.spawn(process.execPath, argv, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } })
  let out = ""
  child.stdout?.on("data", (d: Buffer) => { out += d.toString() })
  child.stderr?.on("data", (d: Buffer) => { out += d.toString() })
  try {
    while (!(await ready(child, () => out))) {
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}:\n${out}`)
      if (performance.now() - t0 > 60_000) throw new Error(`not ready after 60 s:\n${out}`)
      await sleep(20)
    }
    const readyMs = performance.now() - t0
    await sleep(IDLE_MS)
    return { readyMs, rssMiB: rssMiB(child.pid ?? 0) }
  } finally {
    await kill(child)
  }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? NaN
}

const newest = (dir: string): number => {
  let t = 0
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, fs.statSync(path.join(e.parentPath ?? dir, e.name)).mtimeMs)
  }
  return t
}

/** The compiled entry: dist/main.js if fresh, else a build into node_modules/.cache. */
const compiledEntry = (): { readonly entry?: string; readonly note: string } => {
  const dist = path.join(ROOT, "dist", "main.js")
  if (fs.existsSync(dist) && newest(path.join(ROOT, "dist")) >= newest(path.join(ROOT, "src"))) return { entry: dist, note: "dist/ (up to date)" }
  const out = path.join(ROOT, "node_modules", ".cache", "felhom-bench-dist")
  const t0 = performance.now()
  const r = ChildProcess.spawnSync(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json", "--outDir", out], {
    cwd: ROOT, encoding: "utf8", timeout: 90_000
  })
  if (r.status !== 0) return { note: `compiled build skipped: tsc ${r.status ?? r.signal} ${(r.stdout + r.stderr).slice(0, 400)}` }
  return { entry: path.join(out, "main.js"), note: `built with tsc -p tsconfig.build.json into ${path.relative(ROOT, out)} (${((performance.now() - t0) / 1000).toFixed(0)} s; dist/ was missing or older than src/)` }
}

const main = Effect.scoped(Effect.gen(function*() {
  const sim = yield* startSimulator({ guests: 8, seed: 3, authFailureDelay: 0 })
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "felhom-footprint-"))),
    (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
  )
  const tokenFile = path.join(dir, "pve-token")
  fs.writeFileSync(tokenFile, `${sim.tokenId}=${Redacted.value(sim.tokenSecret)}\n`, { mode: 0o600 })
  const compiled = compiledEntry()
  console.log(`daemon footprint, ${RUNS} runs each (median), reconcile.interval 200ms, idle wait ${IDLE_MS} ms, node ${process.version}, ${os.cpus().length} cores`)
  console.log(`compiled entry: ${compiled.note}`)

  const daemon = async (entryArgs: ReadonlyArray<string>, run: number): Promise<Sample> => {
    const port = await freePort()
    const configFile = path.join(dir, `config-${run}-${port}.json`)
    fs.writeFileSync(configFile, JSON.stringify({
      agentId: "agent-footprint",
      stateDir: path.join(dir, `state-${run}-${port}`),
      pve: { url: sim.url, tokenFile, fingerprint: sim.fingerprint, requestTimeout: "10s" },
      reconcile: { interval: "200ms" },
      health: { listen: `127.0.0.1:${port}` },
      log: { level: "warning" }
    }), { mode: 0o600 })
    return measure([...entryArgs, "daemon", "--config", configFile], async () => (await readyz(port)) === 200)
  }
  const firstLine = async (_: ChildProcess.ChildProcess, out: () => string) => out().includes("\n")
  const bare = ["-e", "console.log('ready'); setInterval(() => {}, 1000)"]

  const rows: Array<[string, () => Promise<Sample>]> = [
    ["node -e (bare baseline)", () => measure(bare, firstLine)],
    ["node --import tsx -e (tsx baseline)", () => measure(["--import", "tsx", ...bare], firstLine)],
    ["daemon, tsx (node --import tsx src/main.ts)", () => daemon(["--import", "tsx", MAIN], 0)],
    ...(compiled.entry === undefined ? [] : [["daemon, compiled (node dist/main.js)", () => daemon([compiled.entry ?? ""], 1)] as [string, () => Promise<Sample>]])
  ]
  const results = new Map<string, Sample>()
  for (const [name, run] of rows) {
    const samples: Array<Sample> = []
    for (let i = 0; i < RUNS; i++) samples.push(yield* Effect.promise(run))
    const s = { readyMs: median(samples.map((x) => x.readyMs)), rssMiB: median(samples.map((x) => x.rssMiB)) }
    results.set(name, s)
    console.log(`${name.padEnd(46)} spawn→ready ${s.readyMs.toFixed(0).padStart(5)} ms   idle RSS ${s.rssMiB.toFixed(1).padStart(6)} MiB   (runs: ${samples.map((x) => `${x.readyMs.toFixed(0)} ms/${x.rssMiB.toFixed(1)} MiB`).join(", ")})`)
  }
  const base = results.get(rows[0]?.[0] ?? "")
  const tsxBase = results.get(rows[1]?.[0] ?? "")
  if (base !== undefined) {
    for (const [name] of rows.slice(2)) {
      const s = results.get(name)
      if (s === undefined) continue
      const vsTsx = name.includes("tsx") && tsxBase !== undefined
        ? `; vs tsx baseline: start ${(s.readyMs / tsxBase.readyMs).toFixed(1)}×, RSS ${(s.rssMiB / tsxBase.rssMiB).toFixed(2)}×`
        : ""
      console.log(`ratio ${name}: start ${(s.readyMs / base.readyMs).toFixed(1)}× bare node, RSS ${(s.rssMiB / base.rssMiB).toFixed(2)}× bare node (+${(s.rssMiB - base.rssMiB).toFixed(1)} MiB)${vsTsx}`)
    }
  }
})).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)))

void Effect.runPromise(main).catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
