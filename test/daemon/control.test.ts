/**
 * The daemon as the state directory's single writer: while it runs, `apply`, `revert` and
 * `op submit` hand their request to it over the control socket, and it runs them through its
 * own queue, gate and journal. The daemon and the CLI run in this process
 * (support/cliInProcess.ts), each as `main` runs it; the requests cross the real control socket.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { DEFAULT_TOKEN_ID, type SimGuestSeed } from "../../src/sim/Simulator.js"
import { runCliInProcess as runCli, startCliInProcess } from "../support/cliInProcess.js"
import {
  connectionFlags,
  freePort,
  health,
  journalOps,
  pollUntil,
  tempDir,
  writeDaemonConfig
} from "../support/daemon.js"
import { Sim } from "../support/sim.js"

const GUESTS: ReadonlyArray<SimGuestSeed> = Array.from({ length: 20 }, (_, i) =>
  i % 2 === 0
    ? { vmid: 200 + i, type: "qemu", status: "running", config: { name: `vm${i}`, memory: 512, description: "before" } }
    : {
      vmid: 200 + i,
      type: "lxc",
      status: "running",
      config: { hostname: `ct${i}`, memory: 256, description: "before", ostype: "debian" }
    })

const setup = Effect.gen(function*() {
  const sim = yield* Sim
  const dir = yield* tempDir("felhom-control-")
  const port = yield* freePort
  const env = yield* writeDaemonConfig(dir, sim, port)
  const daemon = yield* startCliInProcess(["daemon", "--config", env.configFile])
  yield* pollUntil("the daemon ready", health(port, "/readyz"), (a) => a.status === 200, { context: daemon.output })
  const connection = [...connectionFlags(sim, path.join(dir, "pve-token")), "--state-dir", env.stateDir]
  return { sim, dir, env, daemon, connection }
})

/** One raw exchange on the control socket: what the daemon wrote back before closing. */
const raw = (socket: string, request: string) =>
  Effect.async<string>((resume) => {
    const conn = net.createConnection(socket)
    let answer = ""
    conn.on("connect", () => conn.write(request))
    conn.on("data", (d: Buffer) => {
      answer += d.toString()
    })
    conn.on("error", () => undefined)
    conn.on("close", () => resume(Effect.succeed(answer)))
  })

const ours = (sim: Sim["Type"]) => sim.cluster.mutations().filter((m) => m.user === DEFAULT_TOKEN_ID)

interface ApplyJson {
  readonly succeeded: boolean
  readonly results: ReadonlyArray<
    { readonly opId: string; readonly vmid: number; readonly outcome: { readonly _tag: string } }
  >
}

describe("daemon control socket", () => {
  it.scopedLive(
    "20 concurrent applies: each handed to the daemon, each change applied once, each told the truth",
    () =>
      Effect.gen(function*() {
        const { sim, dir, env, daemon, connection } = yield* setup
        const runs = yield* Effect.forEach(GUESTS, (g) =>
          Effect.gen(function*() {
            const file = path.join(dir, `desired-${g.vmid}.json`)
            fs.writeFileSync(
              file,
              JSON.stringify({ guests: { [g.vmid]: { config: { description: `set by process ${g.vmid}` } } } })
            )
            return yield* runCli(["apply", ...connection, "--desired", file, "--json"])
          }), { concurrency: "unbounded" })
        for (const [i, run] of runs.entries()) {
          expect(run.code, run.stderr).toBe(0)
          expect(run.stderr).toBe(`felhom-agent: handed to the running daemon (PID ${process.pid})\n`)
          const report = JSON.parse(run.stdout) as ApplyJson
          expect(report.succeeded).toBe(true)
          expect(report.results.map((r) => [r.vmid, r.outcome._tag])).toEqual([[200 + i, "Applied"]])
        }
        // Through the daemon the CLI needs no PVE connection of its own: the daemon's is used.
        const bare = path.join(dir, "desired-bare.json")
        fs.writeFileSync(
          bare,
          JSON.stringify({
            guests: {
              [GUESTS[0]?.vmid ?? 200]: { config: { description: `set by process ${GUESTS[0]?.vmid ?? 200}` } }
            }
          })
        )
        const noFlags = yield* runCli(["apply", "--state-dir", env.stateDir, "--desired", bare, "--json"])
        expect(noFlags.code, noFlags.stderr).toBe(0)
        expect((JSON.parse(noFlags.stdout) as ApplyJson).results).toEqual([])
        // Exactly one write per guest reached PVE, and each guest shows its own process's change.
        const writes = ours(sim)
        expect(writes.map((m) => m.vmid).sort()).toEqual(GUESTS.map((g) => g.vmid))
        for (const g of GUESTS) {
          const view = yield* Effect.orDie(sim.cluster.view(g.vmid))
          expect(view.config["description"]?.trimEnd()).toBe(`set by process ${g.vmid}`)
        }
        // The daemon's journal, read beside it (readers take no lock): one done op per change.
        const ops = yield* journalOps(env.stateDir)
        expect(ops).toHaveLength(20)
        expect(new Set(ops.map((o) => o.phase))).toEqual(new Set(["done"]))
        expect((yield* daemon.stop).code).toBe(0)
        expect(fs.existsSync(path.join(env.stateDir, "control.sock"))).toBe(false)
      }).pipe(Effect.provide(Sim.layer({ guests: GUESTS }))),
    240_000
  )

  it.scopedLive(
    "revert and a refused op submit through the daemon: same lines and exit codes as a run of their own",
    () =>
      Effect.gen(function*() {
        const { sim, dir, connection } = yield* setup
        const file = path.join(dir, "desired.json")
        fs.writeFileSync(file, JSON.stringify({ guests: { 201: { config: { description: "to be reverted" } } } }))
        const applied = yield* runCli(["apply", ...connection, "--desired", file, "--json"])
        expect(applied.code).toBe(0)
        const opId = (JSON.parse(applied.stdout) as ApplyJson).results[0]?.opId ?? ""
        const reverted = yield* runCli(["revert", opId, ...connection])
        expect(reverted.code, reverted.stderr).toBe(0)
        expect(reverted.stdout).toMatch(
          new RegExp(`^✓ reverted: lxc/201 SetConfig  applied.*\\(op revert:${opId}\\)\\n$`)
        )
        expect((yield* Effect.orDie(sim.cluster.view(201))).config["description"]?.trimEnd()).toBe("before")
        // The daemon has no signers: every signed op is refused, with one line and exit 1.
        const envelope = path.join(dir, "op.json")
        fs.writeFileSync(envelope, JSON.stringify({ payloadType: "x", payload: "", signatures: [] }))
        const submitted = yield* runCli(
          ["op", "submit", envelope, ...connection, "--signers", "/nonexistent", "--agent-id", "a"]
        )
        expect(submitted.code).toBe(1)
        expect(submitted.stdout).toBe("")
        const lines = submitted.stderr.trimEnd().split("\n")
        expect(lines[0]).toBe(`felhom-agent: handed to the running daemon (PID ${process.pid})`)
        expect(lines.slice(1)).toHaveLength(1)
        expect(lines[1]).toMatch(/^felhom-agent: /)
        expect(ours(sim)).toHaveLength(2)
      }).pipe(Effect.provide(Sim.layer({ guests: GUESTS }))),
    120_000
  )

  it.scopedLive(
    "status answers from the running daemon; without one it says so in one line, exit 3",
    () =>
      Effect.gen(function*() {
        const { sim, env, daemon } = yield* setup
        const stateDir = ["--state-dir", env.stateDir]
        yield* pollUntil(
          "a reconcile pass",
          runCli(["status", ...stateDir, "--json"]),
          (r) => r.code === 0 && (JSON.parse(r.stdout) as { lastPass: unknown }).lastPass !== null,
          { context: daemon.output }
        )
        const json = yield* runCli(["status", ...stateDir, "--json"])
        expect(json.stderr).toBe("")
        expect(JSON.parse(json.stdout)).toMatchObject({
          pid: process.pid,
          agentId: "agent-pve1",
          ready: true,
          notReadyReason: null,
          pve: { url: sim.url, error: null },
          scope: { mode: "node", node: "pve1", error: null },
          lastPass: { actions: 0 },
          ops: { inFlight: [], needsOperator: [] },
          hub: null
        })
        // A converged pass with no desired guest reads only the cluster list (other callers may add some).
        expect((JSON.parse(json.stdout) as { lastPass: { pveRequests: number } }).lastPass.pveRequests)
          .toBeGreaterThanOrEqual(1)
        const text = yield* runCli(["status", ...stateDir])
        expect(text.code).toBe(0)
        expect(text.stdout).toMatch(
          new RegExp(`^felhom-agent agent-pve1 \\(PID ${process.pid}\\): ready\n  PVE: +${sim.url} \\(version `)
        )
        expect(text.stdout).toContain("0 in flight, 0 waiting for an operator")
        expect(text.stdout).toContain("\n  scope:      node pve1 (the guests on this node only)\n")
        // Bad requests are answered with a typed error, not a hang-up.
        const socket = path.join(env.stateDir, "control.sock")
        for (const bad of ["not json\n", `${"x".repeat(8 * 1024 * 1024 + 1)}\n`, `{"v":2,"command":"status"}\n`]) {
          const answer = yield* raw(socket, bad)
          expect(answer, bad.slice(0, 30)).toMatch(
            /^\{"type":"error","tag":"ControlRequestInvalid","message":"bad control request: /
          )
        }
        expect((yield* daemon.stop).code).toBe(0)
        const none = yield* runCli(["status", ...stateDir])
        expect(none.code).toBe(3)
        expect(none.stdout).toBe("")
        expect(none.stderr).toBe(`felhom-agent: no daemon is running on state directory ${env.stateDir}\n`)
      }).pipe(Effect.provide(Sim.layer({ guests: GUESTS }))),
    120_000
  )
})
