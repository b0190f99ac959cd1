/**
 * The daemon end to end (docs/architecture.md, invariants 5 and 7): `felhom-agent daemon
 * --config FILE` as a child process against the simulator over HTTPS (pinned fingerprint),
 * health on a free loopback port, a temp state dir. Start-up order (recovery before ready),
 * zero mutations with no desired state, SIGTERM mid-apply (a clean exit 0 and a journal the
 * next start can resolve), SIGKILL mid-op (the next start resolves it), and a bad configuration
 * stopping everything before it starts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { listen } from "../../src/net/listen.js"
import { DEFAULT_TOKEN_ID, type RunningSim } from "../../src/sim/Simulator.js"
import type { OpRecord } from "../../src/state/OpRecord.js"
import { SEEDS } from "../reconcile/EngineSupport.js"
import { runCli } from "../support/cli.js"
import { killedAt } from "../support/crashCli.js"
import {
  awaitExit,
  type DaemonProcess,
  freePort,
  health,
  journalOps,
  metricValue,
  pollUntil,
  spawnDaemon,
  stopDaemon,
  tempDir,
  writeConnectionFlags,
  writeDaemonConfig,
  writeFile
} from "../support/daemon.js"
import { Sim } from "../support/sim.js"

const startsOf = (sim: RunningSim, vmid: number) =>
  sim.cluster.mutations().filter((m) => m.user === DEFAULT_TOKEN_ID && m.kind === "start" && m.vmid === vmid)

const runningTask = (sim: RunningSim, vmid: number) =>
  sim.cluster.tasks.all.find((t) => t.id === String(vmid) && t.status === "running")

const readyz = (port: number) => Effect.map(health(port, "/readyz"), (a) => ({ status: a.status, body: a.body }))

const passCount = (port: number) =>
  Effect.map(
    health(port, "/metrics"),
    (a) => a.status === 200 ? metricValue(a.body, "felhom_reconcile_pass_seconds_count") ?? 0 : -1
  )

/** Every op either finished or in flight with its task: nothing recovery could not resolve. */
const expectConsistent = (ops: ReadonlyArray<OpRecord>) => {
  for (const op of ops) {
    const resolvable = op.phase === "done" || (op.phase === "in-flight" && op.upid !== null)
    expect(resolvable, `op ${op.opId} ${op.action} is ${op.phase} (upid ${op.upid})`).toBe(true)
  }
}

const waitReady = (d: DaemonProcess, port: number) =>
  pollUntil("/readyz 200", readyz(port), (a) => a.status === 200, { context: d.output })

/**
 * Starts the daemon again after a crash, lets it pass twice and stops it: the Start of guest 102
 * the crash left is done with its UPID, it ran once, and the guest runs.
 */
const restartResolvesStart = (
  sim: RunningSim,
  configFile: string,
  stateDir: string,
  port: number,
  upid: string | null | undefined
) =>
  Effect.gen(function*() {
    const daemon = yield* spawnDaemon(configFile)
    yield* waitReady(daemon, port)
    const before = yield* passCount(port)
    yield* pollUntil("two more passes", passCount(port), (n) => n >= before + 2, { context: daemon.output })
    expect(yield* stopDaemon(daemon)).toEqual({ code: 0, signal: null })
    const ops = yield* journalOps(stateDir)
    expectConsistent(ops)
    expect(ops.filter((o) => o.vmid === 102)).toEqual([expect.objectContaining({ phase: "done", upid })])
    expect(startsOf(sim, 102)).toHaveLength(1)
    expect(yield* Effect.orDie(sim.cluster.view(102))).toMatchObject({ status: "running" })
  })

describe("daemon: start-up order", () => {
  it.scopedLive("is ready only after journal recovery resolved the unfinished op", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const dir = yield* tempDir()
      const port = yield* freePort
      const env = yield* writeDaemonConfig(dir, sim, port, { reconcile: { interval: "200ms" } })
      // Seed: apply starts guest 102, the simulator holds the task, apply dies while waiting.
      sim.cluster.setFaults({ stuckTasks: [{ vmid: 102 }] })
      const desired = path.join(dir, "desired.yaml")
      yield* writeFile(desired, "guests:\n  \"102\":\n    power: running\n")
      const applyArgs = [
        ...yield* writeConnectionFlags(dir, sim),
        "--desired",
        desired,
        "--state-dir",
        env.stateDir
      ]
      expect(yield* killedAt(["apply", ...applyArgs], "waiting")).toBe("SIGKILL")
      const stuck = runningTask(sim, 102)
      expect(stuck).toBeDefined()

      const daemon = yield* spawnDaemon(env.configFile)
      const notReady = yield* pollUntil("/readyz to answer", readyz(port), (a) => a.status !== 0, {
        context: daemon.output
      })
      expect(notReady.status).toBe(503)
      expect(JSON.parse(notReady.body)).toMatchObject({ ready: false, reason: expect.stringMatching(/recovery/) })
      // Still held: the task has not ended, so recovery cannot have finished.
      expect(runningTask(sim, 102)?.upid).toBe(stuck?.upid)
      expect((yield* readyz(port)).status).toBe(503)

      sim.cluster.clearFaults()
      yield* waitReady(daemon, port)
      expect(startsOf(sim, 102)).toHaveLength(1)
      expect(yield* Effect.orDie(sim.cluster.view(102))).toMatchObject({ status: "running" })

      expect(yield* stopDaemon(daemon)).toEqual({ code: 0, signal: null })
      const ops = yield* journalOps(env.stateDir)
      const start = ops.find((o) => o.vmid === 102 && o.action === "start")
      expect(start).toMatchObject({ phase: "done", upid: stuck?.upid })
      expect(startsOf(sim, 102)).toHaveLength(1)
    }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))), 90_000)
})

describe("daemon: killed mid-op", () => {
  it.scopedLive(
    "SIGKILLed while waiting on its Start: the next start resolves the op, and the Start ran once",
    () =>
      Effect.gen(function*() {
        const sim = yield* Sim
        const dir = yield* tempDir()
        const port = yield* freePort
        const desired = path.join(dir, "desired.yaml")
        yield* writeFile(desired, "guests:\n  \"102\":\n    power: running\n")
        const env = yield* writeDaemonConfig(dir, sim, port, {
          desired: { source: "file", file: desired, pollInterval: "200ms" }
        })
        expect(yield* killedAt(["daemon", "--config", env.configFile], "waiting")).toBe("SIGKILL")
        const left = yield* journalOps(env.stateDir)
        const upid = left.find((o) => o.vmid === 102)?.upid
        expect(left.filter((o) => o.vmid === 102)).toEqual([
          expect.objectContaining({ action: "start", phase: "in-flight", upid: expect.any(String) })
        ])

        yield* restartResolvesStart(sim, env.configFile, env.stateDir, port, upid)
      }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))),
    90_000
  )
})

describe("daemon: no desired state (the Empty default)", () => {
  it.scopedLive("reaches ready, runs passes, and mutates nothing", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const dir = yield* tempDir()
      const port = yield* freePort
      const env = yield* writeDaemonConfig(dir, sim, port)
      const daemon = yield* spawnDaemon(env.configFile)
      yield* waitReady(daemon, port)
      yield* pollUntil("three reconcile passes", passCount(port), (n) => n >= 3, { context: daemon.output })
      expect(sim.cluster.mutations()).toEqual([])
      const healthz = yield* health(port, "/healthz")
      expect(healthz.status).toBe(200)
      expect(JSON.parse(healthz.body)).toMatchObject({ alive: true })
      expect(yield* stopDaemon(daemon)).toEqual({ code: 0, signal: null })
      expect(sim.cluster.mutations()).toEqual([])
      expect(yield* journalOps(env.stateDir)).toEqual([])
    }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))), 60_000)
})

describe("daemon: SIGTERM mid-apply", () => {
  const setup = (grace: string) =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const dir = yield* tempDir()
      const port = yield* freePort
      const desired = path.join(dir, "desired.yaml")
      yield* writeFile(desired, "guests:\n  \"102\":\n    power: running\n")
      const env = yield* writeDaemonConfig(dir, sim, port, {
        desired: { source: "file", file: desired, pollInterval: "200ms" },
        shutdownGrace: grace
      })
      sim.cluster.setFaults({ stuckTasks: [{ vmid: 102 }] })
      const daemon = yield* spawnDaemon(env.configFile)
      const task = yield* pollUntil(
        "the Start task in flight",
        Effect.sync(() => runningTask(sim, 102)),
        (t) => t !== undefined,
        {
          context: daemon.output
        }
      )
      return { sim, env, port, daemon, upid: task?.upid }
    })

  it.scopedLive(
    "grace runs out: exit 0, the op stays in flight with its UPID, the next start resolves it",
    () =>
      Effect.gen(function*() {
        const { daemon, env, port, sim, upid } = yield* setup("1s")
        expect(yield* stopDaemon(daemon)).toEqual({ code: 0, signal: null })
        expect(daemon.output()).toMatch(/shutdown grace ran out/)
        const ops = yield* journalOps(env.stateDir)
        expectConsistent(ops)
        expect(ops.find((o) => o.vmid === 102)).toMatchObject({ action: "start", phase: "in-flight", upid })

        // The task ends while no agent runs; the next start recovers the op and does not redo it.
        sim.cluster.clearFaults()
        yield* pollUntil("the held task to end", Effect.sync(() => runningTask(sim, 102)), (t) => t === undefined)
        yield* restartResolvesStart(sim, env.configFile, env.stateDir, port, upid)
      }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))),
    90_000
  )

  it.scopedLive("within grace: not ready while draining, the op reaches done, exit 0", () =>
    Effect.gen(function*() {
      const { daemon, env, port, sim, upid } = yield* setup("30s")
      yield* daemon.signal("SIGTERM")
      yield* pollUntil("the drain to begin", Effect.sync(daemon.output), (o) => /stopping: no new work/.test(o))
      // A second SIGTERM during the drain is noted, not fatal.
      yield* daemon.signal("SIGTERM")
      yield* pollUntil("the second SIGTERM noted", Effect.sync(daemon.output), (o) => /already stopping/.test(o))
      const draining = yield* readyz(port)
      expect(draining.status).toBe(503)
      expect(JSON.parse(draining.body)).toMatchObject({ ready: false, reason: "stopping" })
      expect(daemon.hasExited()).toBe(false)
      sim.cluster.clearFaults()
      expect(yield* awaitExit(daemon)).toEqual({ code: 0, signal: null })
      expect(daemon.output()).not.toMatch(/shutdown grace ran out/)
      const ops = yield* journalOps(env.stateDir)
      expectConsistent(ops)
      expect(ops.filter((o) => o.vmid === 102)).toEqual([expect.objectContaining({ phase: "done", upid })])
      expect(startsOf(sim, 102)).toHaveLength(1)
    }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))), 90_000)
})

describe("daemon: a bad configuration", () => {
  const badRun = (name: string, extra: Record<string, unknown>, prepare?: (dir: string) => Record<string, unknown>) =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const dir = yield* tempDir()
      const port = yield* freePort
      const env = yield* writeDaemonConfig(dir, sim, port, { ...extra, ...(prepare?.(dir) ?? {}) })
      const result = yield* runCli(["daemon", "--config", env.configFile])
      return { name, result, env }
    })

  it.scopedLive("exits 1 with one line naming the key, before anything starts", () =>
    Effect.gen(function*() {
      const runs = yield* Effect.all([
        badRun("reconcile.interval", { reconcile: { interval: "soon" } }),
        badRun("reconcile.intervall", { reconcile: { intervall: "1s" } }),
        badRun("hub.tokenFile", { desired: { source: "hub" }, hub: { url: "http://127.0.0.1:9" } }),
        badRun("signersFile", {}, (dir) => {
          fs.writeFileSync(path.join(dir, "signers.yaml"), "signers:\n  - keyid: nope\n")
          return { signersFile: path.join(dir, "signers.yaml") }
        })
      ], { concurrency: "unbounded" })
      for (const { env, name, result } of runs) {
        const lines = result.stderr.split("\n").filter((l) => l !== "")
        expect({ name, code: result.code }).toEqual({ name, code: 1 })
        expect(lines, `${name}: ${result.stderr}`).toHaveLength(1)
        expect(lines[0]).toMatch(/^felhom-agent: invalid configuration/)
        expect(lines[0]).toContain(name)
        expect(result.stdout).toBe("")
        // Nothing started: no state database was created, no health server logged.
        expect(fs.existsSync(path.join(env.stateDir, "state.db")), `${name}: state.db created`).toBe(false)
      }
    }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))), 60_000)

  it.scopedLive("a bad or missing desired-state file stops it too, naming the bad path", () =>
    Effect.gen(function*() {
      const runs = yield* Effect.all([
        badRun("guests.12", {}, (dir) => {
          fs.writeFileSync(path.join(dir, "desired.yaml"), "guests:\n  \"12\":\n    power: running\n")
          return { desired: { file: path.join(dir, "desired.yaml") } }
        }),
        badRun("absent.yaml", {}, (dir) => ({ desired: { file: path.join(dir, "absent.yaml") } }))
      ], { concurrency: "unbounded" })
      for (const { env, name, result } of runs) {
        const lines = result.stderr.split("\n").filter((l) => l !== "")
        expect({ name, code: result.code }).toEqual({ name, code: 1 })
        expect(lines, `${name}: ${result.stderr}`).toHaveLength(1)
        expect(lines[0]).toContain(name)
        expect(fs.existsSync(path.join(env.stateDir, "state.db")), `${name}: state.db created`).toBe(false)
      }
    }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))), 60_000)

  it.scopedLive("a health port already in use stops it with one line naming the address", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const dir = yield* tempDir()
      const port = yield* freePort
      yield* Effect.orDie(listen(net.createServer(), { host: "127.0.0.1", port }))
      const env = yield* writeDaemonConfig(dir, sim, port)
      const result = yield* runCli(["daemon", "--config", env.configFile])
      expect(result.code).toBe(1)
      const lines = result.stderr.split("\n").filter((l) => l !== "")
      expect(lines, result.stderr).toHaveLength(1)
      expect(lines[0]).toMatch(
        new RegExp(`^felhom-agent: health server cannot listen on 127\\.0\\.0\\.1:${port}: listen EADDRINUSE`)
      )
    }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))), 60_000)
})
