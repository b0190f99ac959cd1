/**
 * Two `felhom-agent daemon` processes, one per node of a simulated two-node cluster, as an
 * operator installs them: each talks to its own node's API with its own token and reads the
 * same desired file covering every guest. Each change lands once, made by the daemon of the
 * guest's node; a daemon killed with SIGKILL leaves its node's guests alone, and the other keeps
 * its own.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { RunningSim, SimGuestSeed, SimTokenSeed } from "../../src/sim/Simulator.js"
import { runCli } from "../support/cli.js"
import {
  freePort,
  journalOps,
  pollUntil,
  spawnDaemon,
  tempDir,
  writeDaemonConfig,
  writeFile
} from "../support/daemon.js"
import { Sim } from "../support/sim.js"

const NODES = ["pve1", "pve2"] as const

const tokenOf = (node: string): SimTokenSeed => ({
  tokenid: `felhom@pve!agent-${node}`,
  secret: `${node === "pve1" ? "1" : "2"}0000000-1111-2222-3333-444455556666`,
  privileges: [{ path: "/", privs: ["*"], propagate: true }]
})

const GUESTS: ReadonlyArray<SimGuestSeed> = [
  { vmid: 100, node: "pve1", type: "qemu", status: "stopped", config: { name: "a", memory: 512, description: "old" } },
  { vmid: 101, node: "pve1", type: "qemu", status: "stopped", config: { name: "b", memory: 512, description: "old" } },
  { vmid: 200, node: "pve2", type: "qemu", status: "stopped", config: { name: "c", memory: 512, description: "old" } },
  { vmid: 201, node: "pve2", type: "qemu", status: "stopped", config: { name: "d", memory: 512, description: "old" } }
]
const nodeOf = (vmid: number) => GUESTS.find((g) => g.vmid === vmid)?.node ?? ""

const desiredText = (description: string) =>
  JSON.stringify({
    revision: description,
    guests: Object.fromEntries(GUESTS.map((g) => [String(g.vmid), { power: "running", config: { description } }]))
  })

/** A daemon for `node` in its own directory, reading `desiredFile`. */
const startDaemon = (sim: RunningSim, node: string, desiredFile: string) =>
  Effect.gen(function*() {
    const dir = yield* tempDir(`felhom-${node}-`)
    const token = tokenOf(node)
    const tokenFile = path.join(dir, `token-${node}`)
    yield* writeFile(tokenFile, `${token.tokenid}=${token.secret}\n`)
    const env = yield* writeDaemonConfig(dir, sim, yield* freePort, {
      agentId: `agent-${node}`,
      pve: { url: sim.nodeUrls[node], tokenFile, fingerprint: sim.fingerprint, requestTimeout: "10s" },
      desired: { source: "file", file: desiredFile, pollInterval: "200ms" }
    })
    return { node, env, daemon: yield* spawnDaemon(env.configFile) }
  })

const converged = (sim: RunningSim, vmids: ReadonlyArray<number>, description: string) =>
  vmids.every((vmid) =>
    Either.match(sim.cluster.view(vmid), {
      onLeft: () => false,
      onRight: (v) => v.status === "running" && v.config["description"] === description
    })
  )

const changesOf = (sim: RunningSim, vmid: number) =>
  sim.cluster.mutations().filter((m) => m.vmid === vmid && (m.kind === "config" || m.kind === "start"))

describe("daemons on a two-node cluster", () => {
  it.scopedLive(
    "each change once, by the daemon of the guest's node; a killed daemon's guests are left alone",
    () =>
      Effect.gen(function*() {
        const sim = yield* Sim
        const shared = yield* tempDir("felhom-desired-")
        const desiredFile = path.join(shared, "desired.json")
        fs.writeFileSync(desiredFile, desiredText("new"))
        const [one, two] = yield* Effect.forEach(NODES, (node) => startDaemon(sim, node, desiredFile))
        if (one === undefined || two === undefined) return yield* Effect.die("two daemons")
        const output = () => `${one.daemon.output()}\n--- pve2 ---\n${two.daemon.output()}`
        const all = GUESTS.map((g) => g.vmid)
        yield* pollUntil("every guest converged", Effect.sync(() => converged(sim, all, "new")), (ok) => ok, {
          timeout: "60 seconds",
          context: output
        })
        for (const vmid of all) {
          const changes = changesOf(sim, vmid)
          expect(changes.map((c) => c.kind).sort(), `guest ${vmid}`).toEqual(["config", "start"])
          expect(new Set(changes.map((c) => c.user)), `guest ${vmid}`).toEqual(new Set([tokenOf(nodeOf(vmid)).tokenid]))
        }
        for (const { node, env } of [one, two]) {
          const ops = yield* journalOps(env.stateDir)
          expect(ops.length).toBeGreaterThan(0)
          expect(ops.every((op) => op.node === node), `${node}'s journal`).toBe(true)
        }

        // pve2's daemon dies; pve1's keeps its node and never reaches for pve2's guests.
        yield* two.daemon.signal("SIGKILL")
        yield* two.daemon.exited
        fs.writeFileSync(desiredFile, desiredText("newer"))
        yield* pollUntil(
          "pve1's guests converged again",
          Effect.sync(() => converged(sim, [100, 101], "newer")),
          (ok) => ok,
          {
            timeout: "60 seconds",
            context: output
          }
        )
        // Only the changes of the first document, made before the kill.
        for (const vmid of [200, 201]) expect(changesOf(sim, vmid)).toHaveLength(2)
        expect(one.daemon.hasExited()).toBe(false)
      }).pipe(Effect.provide(Sim.layer({ nodes: NODES, guests: GUESTS, tokens: NODES.map(tokenOf), taskDuration: 5 }))),
    150_000
  )

  it.scopedLive(
    "a node the agent cannot own (a typo in `node:`) is said: status and every pass tell why, nothing is changed",
    () =>
      Effect.gen(function*() {
        const sim = yield* Sim
        const dir = yield* tempDir("felhom-typo-")
        const token = tokenOf("pve1")
        const tokenFile = path.join(dir, "token-pve1")
        yield* writeFile(tokenFile, `${token.tokenid}=${token.secret}\n`)
        const env = yield* writeDaemonConfig(dir, sim, yield* freePort, {
          node: "pve9",
          pve: { url: sim.nodeUrls["pve1"], tokenFile, fingerprint: sim.fingerprint, requestTimeout: "10s" }
        })
        const daemon = yield* spawnDaemon(env.configFile)
        const status = yield* pollUntil(
          "a failed pass in status",
          runCli(["status", "--state-dir", env.stateDir, "--json"]),
          (r) => r.code === 0 && (JSON.parse(r.stdout) as { lastFailure: unknown }).lastFailure !== null,
          { context: daemon.output }
        )
        const json = JSON.parse(status.stdout) as {
          lastFailure: { message: string }
          scope: { node: string | null; error: string }
        }
        expect(json.lastFailure.message).toContain(`node "pve9" is not a node of this cluster (PVE lists: pve1, pve2)`)
        expect(json.scope.node).toBeNull()
        const text = yield* runCli(["status", "--state-dir", env.stateDir])
        expect(text.stdout).toMatch(
          /\n {2}last pass: {2}FAILED \d+s ago: cannot tell which PVE node this agent runs on: node "pve9"/
        )
        expect(sim.cluster.mutations()).toEqual([])
      }).pipe(Effect.provide(Sim.layer({ nodes: NODES, guests: GUESTS, tokens: NODES.map(tokenOf), taskDuration: 5 }))),
    120_000
  )
})
