/**
 * The crash matrix, shared by scripts/crash-matrix.ts and
 * test/evidence/crashMatrix.process.test.ts. The real CLI's `apply` runs as a child process against the
 * simulator (in this process, over HTTPS, pinned) and is SIGKILLed at a point of an op's life;
 * then `apply` is run again to completion, and once more to show the plan is empty. A run killed
 * at an engine phase is the crash runs' build of the CLI (`node dist-test/crash.js`, which pauses
 * there when FELHOM_TEST_PAUSE_AT names the phase); every other run is the bundle as shipped
 * (`node dist/main.js`). Checks, per run:
 * - duplicates (our token's mutation log): a config (vmid, key, value) written twice, or two
 *   power changes of one kind on one vmid with no opposite one between;
 * - lost journal entries: a logged mutation whose UPID no journal op in phase done holds, or a
 *   logged mutation with no done op for that vmid and action at all; and no op left unfinished;
 * - converged: the third apply plans 0 actions and exits 0.
 * Points: the engine's four phases (src/reconcile/EnginePhases.ts; the first action to reach
 * the phase pauses; all guests run in parallel, so the others are at various points), a
 * random-time kill during a multi-guest apply, and a double crash (killed after the call, then
 * the recovering apply killed while waiting on the task).
 */
import { Effect, Redacted } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { EnginePhase } from "../../src/reconcile/EnginePhases.js"
import { DEFAULT_TOKEN_ID, type SimGuestSeed, type SimMutation, startSimulator } from "../../src/sim/Simulator.js"
import { CLI, cliReady, CRASH_CLI, crashCliReady } from "./cliBundle.js"

export const ROOT = path.resolve(import.meta.dirname, "../..")

export const POINTS = ["before-call", "after-call", "waiting", "after-task", "random-time", "double-crash"] as const
export type CrashPoint = (typeof POINTS)[number]

const SEEDS: ReadonlyArray<SimGuestSeed> = [
  {
    vmid: 100,
    type: "qemu",
    status: "running",
    config: { name: "web", memory: 2048, cores: 2, description: "web server" }
  },
  {
    vmid: 101,
    type: "lxc",
    status: "running",
    config: {
      hostname: "db",
      memory: 1024,
      description: "database",
      ostype: "debian",
      rootfs: "local-lvm:vm-101-disk-0,size=8G"
    }
  },
  { vmid: 102, type: "qemu", status: "stopped", config: { name: "batch", memory: 1024, cores: 1 } },
  {
    vmid: 103,
    type: "lxc",
    status: "stopped",
    config: { hostname: "cache", memory: 512, ostype: "debian", rootfs: "local-lvm:vm-103-disk-0,size=8G" }
  }
]

/** Every guest changes: two starts, a stop, config writes (qemu async = task, lxc sync). */
const DESIRED = (run: number) =>
  [
    "guests:",
    `  "100":`,
    `    power: stopped`,
    `    config:`,
    `      description: "crash run ${run} web"`,
    `  "101":`,
    `    config:`,
    `      description: "crash run ${run} db"`,
    `  "102":`,
    `    power: running`,
    `    config:`,
    `      description: "crash run ${run} batch"`,
    `  "103":`,
    `    power: running`
  ].join("\n") + "\n"

export interface CrashResult {
  readonly point: CrashPoint
  readonly run: number
  readonly killed: ReadonlyArray<string>
  readonly recoveryExit: number
  readonly finalActions: number
  readonly finalExit: number
  readonly mutations: number
  readonly duplicates: ReadonlyArray<string>
  readonly lost: ReadonlyArray<string>
  readonly unfinished: number
  readonly ok: boolean
}

interface Child {
  readonly code: number | null
  readonly signal: string | null
  readonly stdout: string
  readonly stderr: string
}

/** The crash runs' CLI pauses at the engine phase this names. */
const PAUSE_AT = "FELHOM_TEST_PAUSE_AT"

const runChild = (
  args: ReadonlyArray<string>,
  killWhen?: { readonly marker?: EnginePhase; readonly afterMs?: number }
) => {
  const marker = killWhen?.marker
  return Effect.zipRight(
    Effect.promise(marker === undefined ? cliReady : crashCliReady),
    Effect.async<Child>((resume) => {
      const child = spawn(process.execPath, [marker === undefined ? CLI : CRASH_CLI, ...args], {
        cwd: ROOT,
        env: { ...process.env, NO_COLOR: "1", ...(marker === undefined ? {} : { [PAUSE_AT]: marker }) },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      const timer = killWhen?.afterMs === undefined
        ? undefined
        : setTimeout(() => child.kill("SIGKILL"), killWhen.afterMs)
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString()
      })
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString()
        if (marker !== undefined && stderr.includes(`FELHOM_TEST_PAUSED ${marker}`)) {
          child.kill("SIGKILL")
        }
      })
      const hard = setTimeout(() => child.kill("SIGKILL"), 90_000)
      child.on("close", (code, signal) => {
        clearTimeout(hard)
        if (timer !== undefined) clearTimeout(timer)
        resume(Effect.succeed({ code, signal, stdout, stderr }))
      })
      return Effect.sync(() => {
        child.kill("SIGKILL")
      })
    })
  )
}

const duplicatesOf = (log: ReadonlyArray<SimMutation>): Array<string> => {
  const seen = new Map<string, number>()
  const out: Array<string> = []
  const lastPower = new Map<number, string>()
  for (const m of log) {
    if (m.kind === "config") {
      for (const [k, v] of Object.entries(m.params)) {
        if (k === "digest" || k === "delete") continue
        const key = `${m.vmid}/${k}=${JSON.stringify(v)}`
        seen.set(key, (seen.get(key) ?? 0) + 1)
        if (seen.get(key) === 2) out.push(`config ${key} written twice`)
      }
    } else if (m.kind === "start" || m.kind === "stop" || m.kind === "shutdown") {
      const kind = m.kind === "start" ? "start" : "stop"
      if (lastPower.get(m.vmid) === kind) out.push(`${m.vmid}: ${kind} twice in a row`)
      lastPower.set(m.vmid, kind)
    }
  }
  return out
}

interface JournalRow {
  readonly opId: string
  readonly vmid: number
  readonly action: string
  readonly phase: string
  readonly upid: string | null
}

const ACTION_OF: Record<string, ReadonlyArray<string>> = {
  config: ["SetConfig", "set-config", "setConfig", "config"],
  start: ["Start", "start"],
  stop: ["Stop", "stop", "shutdown"],
  shutdown: ["Stop", "stop", "shutdown"]
}

export const runCrashPoint = (point: CrashPoint, run: number) =>
  Effect.scoped(Effect.gen(function*() {
    const sim = yield* startSimulator({ guests: SEEDS, taskDuration: 300, authFailureDelay: 0, seed: 100 + run })
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "felhom-crash-matrix-"))),
      (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
    )
    const tokenFile = path.join(dir, "token")
    fs.writeFileSync(tokenFile, `${sim.tokenId}=${Redacted.value(sim.tokenSecret)}\n`, { mode: 0o600 })
    const desired = path.join(dir, "desired.yaml")
    fs.writeFileSync(desired, DESIRED(run))
    const state = path.join(dir, "state")
    const conn = ["--pve-url", sim.url, "--token-file", tokenFile, "--fingerprint", sim.fingerprint]
    const apply = ["apply", ...conn, "--desired", desired, "--state-dir", state]
    const killed: Array<string> = []
    const kill = (marker: EnginePhase | undefined, afterMs?: number) =>
      Effect.map(
        runChild(apply, {
          ...(marker === undefined ? {} : { marker }),
          ...(afterMs === undefined ? {} : { afterMs })
        }),
        (c) => {
          killed.push(`${marker ?? `t+${afterMs}ms`}: ${c.signal ?? `exit ${c.code}`}`)
        }
      )
    switch (point) {
      case "random-time":
        // The bundle starts in about 0.3 s on 2 cores; the apply itself takes about 1-2 s more.
        yield* kill(undefined, 300 + Math.floor(Math.random() * 2_000))
        break
      case "double-crash":
        yield* kill("after-call")
        yield* kill("waiting")
        break
      default:
        yield* kill(point)
    }
    const recovery = yield* runChild([...apply, "--json"])
    const final = yield* runChild([...apply, "--json"])
    const finalActions = (() => {
      try {
        return (JSON.parse(final.stdout) as { readonly results: ReadonlyArray<unknown> }).results.length
      } catch {
        return -1
      }
    })()
    const journalOut = yield* runChild(["journal", "list", "--json", "--limit", "1000", "--state-dir", state])
    const rows: ReadonlyArray<JournalRow> = (() => {
      try {
        return JSON.parse(journalOut.stdout) as ReadonlyArray<JournalRow>
      } catch {
        return []
      }
    })()
    const mine = sim.cluster.mutations().filter((m) => m.user === DEFAULT_TOKEN_ID)
    const done = rows.filter((r) => r.phase === "done")
    const lost: Array<string> = []
    for (const m of mine) {
      const byUpid = m.upid !== undefined && done.some((r) => r.upid === m.upid)
      const byAction = done.some((r) => r.vmid === m.vmid && (ACTION_OF[m.kind] ?? [m.kind]).includes(r.action))
      if (!byUpid && !byAction) {
        lost.push(`${m.kind} ${m.vmid} (seq ${m.seq}${m.upid === undefined ? "" : `, ${m.upid}`}) has no done op`)
      } else if (m.upid !== undefined && !byUpid) {
        lost.push(`${m.kind} ${m.vmid}: task ${m.upid} is recorded by no done op`)
      }
    }
    if (rows.length === 0) lost.push(`journal unreadable: ${journalOut.stderr.slice(0, 200)}`)
    const unfinished = rows.filter((r) => r.phase === "intent" || r.phase === "in-flight").length
    const duplicates = duplicatesOf(mine)
    const ok = duplicates.length === 0 && lost.length === 0 && unfinished === 0 && finalActions === 0 &&
      final.code === 0 && recovery.code === 0
    return {
      point,
      run,
      killed,
      recoveryExit: recovery.code ?? -1,
      finalActions,
      finalExit: final.code ?? -1,
      mutations: mine.length,
      duplicates,
      lost,
      unfinished,
      ok
    } satisfies CrashResult
  }))
