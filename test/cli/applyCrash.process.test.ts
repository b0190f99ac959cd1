/**
 * Crash recovery (docs/architecture.md, invariant 5): `apply` runs as a child process and
 * is SIGKILLed at each phase of an action — before the PVE call, after the call but before the
 * UPID is journaled, while waiting on the task, after the task ended but before done — by the
 * crash tests' build of the CLI (test/support/crashCli.ts). A second `apply`, the program as
 * shipped, must resolve the op and converge, and the simulator's mutation log must show the
 * Start applied exactly once.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { DEFAULT_TOKEN_ID } from "../../src/sim/Simulator.js"
import { SEEDS } from "../reconcile/EngineSupport.js"
import { runCli } from "../support/cli.js"
import { killedAt } from "../support/crashCli.js"
import { connectionFlags } from "../support/daemon.js"
import { Sim } from "../support/sim.js"

const ARGS = (
  connection: ReadonlyArray<string>,
  desired: string,
  state: string
) => ["apply", ...connection, "--desired", desired, "--state-dir", state]

const runApply = (args: ReadonlyArray<string>) => Effect.map(runCli(args, {}, { timeout: 60_000 }), (r) => r.code)

describe("apply: crash recovery by SIGKILL at each phase", () => {
  for (const phase of ["before-call", "after-call", "waiting", "after-task"] as const) {
    it.scoped(
      `killed at ${phase}: the restarted apply converges and the Start ran exactly once`,
      () =>
        Effect.gen(function*() {
          const sim = yield* Sim
          const dir = yield* Effect.acquireRelease(
            Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "felhom-crash-"))),
            (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
          )
          const tokenFile = path.join(dir, "token")
          fs.writeFileSync(tokenFile, `${sim.tokenId}=${Redacted.value(sim.tokenSecret)}\n`, { mode: 0o600 })
          const desired = path.join(dir, "desired.yaml")
          fs.writeFileSync(desired, "guests:\n  \"102\":\n    power: running\n")
          const args = ARGS(
            connectionFlags(sim, tokenFile),
            desired,
            path.join(dir, "state")
          )
          expect(yield* killedAt(args, phase)).toBe("SIGKILL")
          expect(yield* runApply(args)).toBe(0)
          const starts = sim.cluster.mutations().filter((m) => m.user === DEFAULT_TOKEN_ID && m.kind === "start")
          expect(starts.map((m) => m.vmid)).toEqual([102])
          const view = yield* Effect.orDie(sim.cluster.view(102))
          expect(view.status).toBe("running")
        }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))),
      120_000
    )
  }
})
