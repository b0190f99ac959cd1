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
import { Effect, Logger, LogLevel, Redacted } from "effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { listen } from "../src/net/listen.js"
import { startSimulator } from "../src/sim/Simulator.js"
import { build, ENTRY_OUT } from "./build.mjs"
import { ROOT } from "./lib/simChild.js"

const RUNS = Number(process.env.FOOTPRINT_RUNS ?? 5)
const SEMI_SPACE = "--max-semi-space-size=2"
const IDLE_MS = 1_200 // ~5 passes at 200 ms plus slack
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Writes the process's peak RSS (VmHWM, KiB) to fd 3 as it exits; loaded into both sides of a comparison. */
const MAX_RSS_HOOK = `data:text/javascript,${
  encodeURIComponent(
    "import { readFileSync, writeSync } from 'node:fs'; process.on('exit', () => writeSync(3, /VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]))"
  )
}`

const freePort = (): Promise<number> =>
  Effect.runPromise(Effect.scoped(listen(net.createServer(), { host: "127.0.0.1", port: 0 })))

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

interface Sample {
  readonly ms: number
  readonly rssMiB: number
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? NaN
}

/** A short command, to completion: wall time (no hook) and peak RSS (hook, a separate run). */
const oneShot = (argv: ReadonlyArray<string>): Sample => {
  const t0 = performance.now()
  const timed = ChildProcess.spawnSync(process.execPath, argv, {
    cwd: ROOT,
    stdio: "ignore",
    env: { ...process.env, NO_COLOR: "1" }
  })
  const ms = performance.now() - t0
  if (timed.status !== 0) throw new Error(`node ${argv.join(" ")} exited ${timed.status ?? timed.signal}`)
  const peak = ChildProcess.spawnSync(process.execPath, ["--import", MAX_RSS_HOOK, ...argv], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit", "pipe"],
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" }
  })
  const kib = Number(peak.output[3])
  if (peak.status !== 0 || !(kib > 0)) {
    throw new Error(
      `no peak RSS from node ${argv.join(" ")}: exit ${peak.status ?? peak.signal}, fd 3 ${
        JSON.stringify(peak.output[3])
      }`
    )
  }
  return { ms, rssMiB: kib / 1024 }
}

/** spawn → predicate true (polled every 20 ms, at most 60 s), then RSS after the idle wait. */
const longRunning = async (
  argv: ReadonlyArray<string>,
  ready: (out: () => string) => Promise<boolean>,
  env: Record<string, string> = {}
): Promise<Sample> => {
  const t0 = performance.now()
  const child = ChildProcess.spawn(process.execPath, argv, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", ...env }
  })
  let out = ""
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString()
  })
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString()
  })
  try {
    while (!(await ready(() => out))) {
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}:\n${out}`)
      if (performance.now() - t0 > 60_000) throw new Error(`not ready after 60 s:\n${out}`)
      await sleep(20)
    }
    const ms = performance.now() - t0
    await sleep(IDLE_MS)
    return { ms, rssMiB: rssMiB(child.pid ?? 0) }
  } finally {
    await kill(child)
  }
}

const main = Effect.scoped(Effect.gen(function*() {
  const override = process.env.FOOTPRINT_ENTRY
  const entry = override === undefined || override === "" ? path.join(ROOT, ENTRY_OUT) : path.resolve(override)
  if (override === undefined || override === "") {
    const t0 = performance.now()
    yield* Effect.promise(() => build())
    console.log(
      `built ${path.relative(ROOT, entry)} with scripts/build.mjs in ${(performance.now() - t0).toFixed(0)} ms`
    )
  }
  const sim = yield* startSimulator({ guests: 8, seed: 3, authFailureDelay: 0 })
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "felhom-footprint-"))),
    (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
  )
  const tokenFile = path.join(dir, "pve-token")
  fs.writeFileSync(tokenFile, `${sim.tokenId}=${Redacted.value(sim.tokenSecret)}\n`, { mode: 0o600 })
  console.log(
    `footprint of ${
      path.relative(ROOT, entry)
    }: ${RUNS} runs a row (median), node ${process.version}, ${os.cpus().length} cores, load ${
      os.loadavg()[0]?.toFixed(2)
    }`
  )

  const daemon = async (run: number, env: Record<string, string> = {}): Promise<Sample> => {
    const port = await freePort()
    const configFile = path.join(dir, `config-${run}-${port}.json`)
    fs.writeFileSync(
      configFile,
      JSON.stringify({
        agentId: "agent-footprint",
        stateDir: path.join(dir, `state-${run}-${port}`),
        pve: { url: sim.url, tokenFile, fingerprint: sim.fingerprint, requestTimeout: "10s" },
        reconcile: { interval: "200ms" },
        health: { listen: `127.0.0.1:${port}` },
        log: { level: "warning" }
      }),
      { mode: 0o600 }
    )
    return longRunning([entry, "daemon", "--config", configFile], async () => (await readyz(port)) === 200, env)
  }
  const bareIdle = ["-e", "console.log('ready'); setInterval(() => {}, 1000)"]

  // Alternated run by run, so a burst of load from elsewhere on the machine hits both sides.
  const pairs: Array<
    { name: string; base: string; run: (i: number) => Promise<[Sample, Sample]>; unit: [string, string] }
  > = [
    {
      name: "felhom-agent --version",
      base: "node -e 0",
      unit: ["wall", "peak RSS"],
      run: async () => [oneShot(["-e", "0"]), oneShot([entry, "--version"])]
    },
    {
      name: "felhom-agent daemon",
      base: "node -e \"setInterval(…)\"",
      unit: ["spawn→READY", "idle RSS"],
      run: async (i) => [await longRunning(bareIdle, async (out) => out().includes("\n")), await daemon(i)]
    },
    {
      // As nix/module.nix runs it: V8's young generation capped at 2 MiB semi-spaces. Without
      // the cap it grows to 16 MiB under a pass every 200 ms and stays committed.
      name: `felhom-agent daemon, ${SEMI_SPACE}`,
      base: "node -e \"setInterval(…)\"",
      unit: ["spawn→READY", "idle RSS"],
      run: async (
        i
      ) => [
        await longRunning(bareIdle, async (out) => out().includes("\n")),
        await daemon(RUNS + i, { NODE_OPTIONS: SEMI_SPACE })
      ]
    }
  ]
  const ratios: Array<string> = []
  for (const pair of pairs) {
    const base: Array<Sample> = []
    const target: Array<Sample> = []
    for (let i = 0; i < RUNS; i++) {
      const [b, t] = yield* Effect.promise(() => pair.run(i))
      base.push(b)
      target.push(t)
    }
    const row = (name: string, xs: ReadonlyArray<Sample>) => {
      const s = { ms: median(xs.map((x) => x.ms)), rssMiB: median(xs.map((x) => x.rssMiB)) }
      console.log(
        `${name.padEnd(50)} ${pair.unit[0]} ${s.ms.toFixed(0).padStart(5)} ms   ${pair.unit[1]} ${
          s.rssMiB.toFixed(1).padStart(6)
        } MiB   (runs: ${xs.map((x) => `${x.ms.toFixed(0)}/${x.rssMiB.toFixed(0)}`).join(", ")})`
      )
      return s
    }
    const b = row(pair.base, base)
    const t = row(pair.name, target)
    ratios.push(
      `${pair.name}: ${pair.unit[0]} ${(t.ms / b.ms).toFixed(1)}× bare node, ${pair.unit[1]} ${
        (t.rssMiB / b.rssMiB).toFixed(2)
      }× bare node (+${(t.rssMiB - b.rssMiB).toFixed(1)} MiB)`
    )
  }
  for (const line of ratios) console.log(`ratio ${line}`)
})).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)))

void Effect.runPromise(main).catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
