/**
 * Test edges for the daemon run as a child process (`felhom-agent daemon --config FILE`, the
 * bundle), the way systemd runs it: a temp directory with the config, token files and state dir;
 * a free loopback port for the health server; the child killed in a finalizer whatever the test
 * did; bounded polling (never fixed sleeps) for everything that happens asynchronously.
 */
import { Duration, Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { journalLayer } from "../../src/cli/journal.js"
import { listen } from "../../src/net/listen.js"
import type { RunningSim } from "../../src/sim/Simulator.js"
import { Journal } from "../../src/state/Journal.js"
import type { OpRecord } from "../../src/state/OpRecord.js"
import { MAIN, ROOT } from "./cli.js"

/** A temp directory, removed with the scope. */
export const tempDir = (prefix = "felhom-daemon-") =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), prefix))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

/** A loopback port nobody listens on right now (bind port 0, read it, close). */
export const freePort: Effect.Effect<number> = Effect.suspend(() =>
  Effect.orDie(Effect.scoped(listen(net.createServer(), { host: "127.0.0.1", port: 0 })))
)

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export const isListening = (port: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

export const writeFile = (file: string, text: string) =>
  Effect.sync(() => fs.writeFileSync(file, text, { mode: 0o600 }))

/** The simulator's default token as a PVE token file. */
export const writePveToken = (dir: string, sim: RunningSim) =>
  Effect.as(
    writeFile(path.join(dir, "pve-token"), `${sim.tokenId}=${Redacted.value(sim.tokenSecret)}\n`),
    path.join(dir, "pve-token")
  )

/** The CLI's flags to reach the simulator: its URL, the token file, its certificate pin. */
export const connectionFlags = (sim: RunningSim, tokenFile: string): ReadonlyArray<string> => [
  "--pve-url",
  sim.url,
  "--token-file",
  tokenFile,
  "--fingerprint",
  sim.fingerprint
]

/** `connectionFlags` with the token file written into `dir` first. */
export const writeConnectionFlags = (dir: string, sim: RunningSim) =>
  Effect.map(writePveToken(dir, sim), (tokenFile) => connectionFlags(sim, tokenFile))

export interface DaemonEnv {
  readonly dir: string
  readonly stateDir: string
  readonly configFile: string
  readonly port: number
}

/**
 * Writes `config.json` into `dir`: the simulator pinned by fingerprint, the state dir, health
 * on the given port, a fast reconcile; `extra` keys replace the defaults at top level.
 */
export const writeDaemonConfig = (
  dir: string,
  sim: RunningSim,
  port: number,
  extra: Record<string, unknown> = {}
): Effect.Effect<DaemonEnv> =>
  Effect.gen(function*() {
    const tokenFile = yield* writePveToken(dir, sim)
    const stateDir = path.join(dir, "state")
    const config = {
      agentId: AGENT_ID,
      stateDir,
      pve: { url: sim.url, tokenFile, fingerprint: sim.fingerprint, requestTimeout: "10s" },
      reconcile: { interval: "200ms" },
      health: { listen: `127.0.0.1:${port}` },
      shutdownGrace: "10s",
      ...extra
    }
    const configFile = path.join(dir, "config.json")
    yield* writeFile(configFile, JSON.stringify(config, null, 2))
    return { dir, stateDir, configFile, port }
  })

export const AGENT_ID = "agent-pve1"

export interface Exited {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface DaemonProcess {
  readonly child: ChildProcess.ChildProcess
  /** stdout and stderr, interleaved as they arrived. */
  readonly output: () => string
  readonly stderr: () => string
  /** Resolves when the process has exited (at once if it already has). */
  readonly exited: Effect.Effect<Exited>
  readonly hasExited: () => boolean
  readonly signal: (signal: NodeJS.Signals) => Effect.Effect<void>
}

/**
 * `felhom-agent daemon --config FILE` as a child process. The finalizer SIGKILLs it if it is
 * still running (a failed test must not leave a daemon behind) and waits for the exit.
 */
export const spawnDaemon = (configFile: string, env: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.sync((): DaemonProcess => {
      const child = ChildProcess.spawn(process.execPath, [MAIN, "daemon", "--config", configFile], {
        cwd: ROOT,
        env: { ...process.env, NO_COLOR: "1", ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let out = ""
      let err = ""
      let exit: Exited | undefined
      const waiters: Array<(e: Exited) => void> = []
      child.stdout?.on("data", (d: Buffer) => {
        out += d.toString()
      })
      child.stderr?.on("data", (d: Buffer) => {
        out += d.toString()
        err += d.toString()
      })
      // "close": the exit code is known and the pipes are drained.
      child.on("close", (code, signal) => {
        exit = { code, signal }
        for (const w of waiters.splice(0)) w(exit)
      })
      const exited = Effect.async<Exited>((resume) => {
        if (exit !== undefined) return resume(Effect.succeed(exit))
        waiters.push((e) => resume(Effect.succeed(e)))
      })
      return {
        child,
        output: () => out,
        stderr: () => err,
        exited,
        hasExited: () => exit !== undefined,
        signal: (signal) =>
          Effect.sync(() => {
            if (exit === undefined) child.kill(signal)
          })
      }
    }),
    (p) => p.hasExited() ? Effect.void : Effect.zipRight(p.signal("SIGKILL"), p.exited)
  )

/** Waits (bounded) for the exit. */
export const awaitExit = (p: DaemonProcess, within: Duration.DurationInput = "30 seconds") =>
  p.exited.pipe(
    Effect.timeoutFail({ duration: within, onTimeout: () => new Error(`daemon did not exit:\n${p.output()}`) })
  )

/** Sends one SIGTERM (a second one would kill Node outright) and waits (bounded) for the exit. */
export const stopDaemon = (p: DaemonProcess, within: Duration.DurationInput = "30 seconds") =>
  Effect.zipRight(p.signal("SIGTERM"), awaitExit(p, within))

export interface HttpAnswer {
  /** 0 when nothing answered (connection refused, timeout). */
  readonly status: number
  readonly body: string
}

export const httpGet = (url: string): Effect.Effect<HttpAnswer> =>
  Effect.promise(async () => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(3_000) })
      return { status: res.status, body: await res.text() }
    } catch (e) {
      return { status: 0, body: String(e) }
    }
  })

export const health = (port: number, route: "/healthz" | "/readyz" | "/metrics") =>
  httpGet(`http://127.0.0.1:${port}${route}`)

/** The value of a Prometheus sample `name` (first match, labels ignored), or undefined. */
export const metricValue = (text: string, name: string): number | undefined => {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (match !== null && match[1] === name) return Number(match[3])
  }
  return undefined
}

/** Output without the per-pass lines, which would crowd out everything else in a failure. */
export const quiet = (output: string): string =>
  output.split("\n").filter((l) => !l.includes("message=\"reconcile pass\" failed=0 actions=0")).join("\n")

export interface PollOptions {
  /** Default 20 s. */
  readonly timeout?: Duration.DurationInput
  /** Default 100 ms. */
  readonly every?: Duration.DurationInput
  /** Extra diagnostics for the failure message (e.g. the daemon's output). */
  readonly context?: () => string
}

/**
 * Runs `probe` every `every` until `ok` holds for its answer, at most `timeout`; fails naming
 * `what`, the last answer and the context. Uses the live clock (run under it.live/scopedLive).
 */
export const pollUntil = <A, E, R>(
  what: string,
  probe: Effect.Effect<A, E, R>,
  ok: (a: A) => boolean,
  options: PollOptions = {}
): Effect.Effect<A, E | Error, R> =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(Duration.decode(options.timeout ?? "20 seconds"))
    const every = Duration.decode(options.every ?? "100 millis")
    let last: A | undefined
    while (true) {
      last = yield* probe
      if (ok(last)) return last
      if (Date.now() > deadline) break
      yield* Effect.sleep(every)
    }
    const shown = typeof last === "string" ? last : JSON.stringify(last)?.slice(0, 2_000)
    return yield* Effect.fail(
      new Error(
        `timed out waiting for ${what}; last: ${shown}${
          options.context === undefined ? "" : `\n--- context ---\n${quiet(options.context()).slice(-6_000)}`
        }`
      )
    )
  })

/** The journal of a state dir, read in-process beside whatever writes it (readers take no lock). */
export const journalOps = (stateDir: string): Effect.Effect<ReadonlyArray<OpRecord>> =>
  Effect.flatMap(Journal, (j) => j.list({ limit: 1_000 })).pipe(
    Effect.provide(journalLayer(stateDir).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.None)))),
    // Nothing has run there yet, or the writer is still creating the database.
    Effect.catchTag("StateDbMissing", () => Effect.succeed([])),
    Effect.catchIf(
      (e) => (e._tag === "JournalStorageError" || e._tag === "NonceStoreStorageError") && e.operation === "migrate",
      () => Effect.succeed([])
    ),
    Effect.orDie
  )
