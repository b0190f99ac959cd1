/**
 * The control socket between real processes: `apply` run as its own process while a daemon
 * process serves the state directory is handed to that daemon (its PID named), and the change
 * is made once, by the daemon. The many-client cases run in-process (control.test.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { DEFAULT_TOKEN_ID } from "../../src/sim/Simulator.js"
import { SEEDS } from "../reconcile/EngineSupport.js"
import { runCli } from "../support/cli.js"
import {
  freePort,
  health,
  journalOps,
  pollUntil,
  spawnDaemon,
  stopDaemon,
  tempDir,
  writeDaemonConfig
} from "../support/daemon.js"
import { Sim } from "../support/sim.js"

describe("daemon control socket, between processes", () => {
  it.scopedLive("apply in its own process is handed to the daemon process, which makes the change once", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const dir = yield* tempDir("felhom-control-proc-")
      const port = yield* freePort
      const env = yield* writeDaemonConfig(dir, sim, port)
      const daemon = yield* spawnDaemon(env.configFile)
      yield* pollUntil("the daemon ready", health(port, "/readyz"), (a) => a.status === 200, { context: daemon.output })
      const file = path.join(dir, "desired.json")
      fs.writeFileSync(file, JSON.stringify({ guests: { 100: { config: { description: "from another process" } } } }))
      const applied = yield* runCli(["apply", "--state-dir", env.stateDir, "--desired", file, "--json"])
      expect(applied.code, applied.stderr).toBe(0)
      expect(applied.stderr).toBe(`felhom-agent: handed to the running daemon (PID ${daemon.child.pid})\n`)
      expect(sim.cluster.mutations().filter((m) => m.user === DEFAULT_TOKEN_ID)).toHaveLength(1)
      expect((yield* journalOps(env.stateDir)).map((o) => o.phase)).toEqual(["done"])
      expect((yield* stopDaemon(daemon)).code).toBe(0)
    }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))))
})
