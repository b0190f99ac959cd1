/**
 * `plan`, `apply` and `journal` as an operator runs them, in-process (support/cliInProcess.ts)
 * against a simulator over HTTPS with a pinned fingerprint. Exit codes are the contract: plan 0/2/1,
 * apply 0 only when every action succeeded.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { DEFAULT_TOKEN_ID } from "../../src/sim/Simulator.js"
import { SEEDS } from "../reconcile/EngineSupport.js"
import { runCliInProcess } from "../support/cliInProcess.js"
import { connectionFlags } from "../support/daemon.js"
import { Sim } from "../support/sim.js"

const cli = runCliInProcess

const setup = Effect.gen(function*() {
  const sim = yield* Sim
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "felhom-cli-"))),
    (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
  )
  const tokenFile = path.join(dir, "token")
  fs.writeFileSync(tokenFile, `${sim.tokenId}=${Redacted.value(sim.tokenSecret)}\n`, { mode: 0o600 })
  const desiredFile = path.join(dir, "desired.yaml")
  fs.writeFileSync(
    desiredFile,
    "revision: t1\nguests:\n  \"100\":\n    config:\n      description: from the cli\n  \"102\":\n    power: running\n"
  )
  const connection = connectionFlags(sim, tokenFile)
  return { sim, dir, desiredFile, connection, stateDir: path.join(dir, "state") }
})

describe("CLI: plan / apply / journal", () => {
  it.scopedLive(
    "plan exits 2 with changes, apply applies them (exit 0), plan then exits 0; journal shows the ops",
    () =>
      Effect.gen(function*() {
        const { sim, desiredFile, connection, stateDir, dir } = yield* setup
        const before = yield* cli(["plan", ...connection, "--desired", desiredFile])
        expect(before.code).toBe(2)
        expect(before.stdout).toContain("qemu/100")
        expect(before.stdout).toContain(`"web server" → "from the cli"`)
        const applied = yield* cli(["apply", ...connection, "--desired", desiredFile, "--json"], {
          FELHOM_STATE_DIR: stateDir
        })
        expect(applied.code).toBe(0)
        const report = JSON.parse(applied.stdout) as {
          succeeded: boolean
          results: ReadonlyArray<{ opId: string; outcome: { _tag: string } }>
        }
        expect(report.succeeded).toBe(true)
        expect(report.results.map((r) => r.outcome._tag)).toEqual(["Applied", "Applied"])
        expect(fs.statSync(stateDir).mode & 0o777).toBe(0o700)
        expect(sim.cluster.mutations().filter((m) => m.user === DEFAULT_TOKEN_ID)).toHaveLength(2)
        const after = yield* cli(["plan", ...connection, "--desired", desiredFile, "--json"])
        expect(after.code).toBe(0)
        expect((JSON.parse(after.stdout) as { actionCount: number }).actionCount).toBe(0)
        const list = yield* cli(["journal", "list", "--json", "--state-dir", stateDir])
        expect(list.code).toBe(0)
        expect((JSON.parse(list.stdout) as ReadonlyArray<{ phase: string }>).map((o) => o.phase)).toEqual([
          "done",
          "done"
        ])
        const opId = report.results[0]?.opId ?? ""
        // The cut id journal list prints is enough (any unique prefix, like git).
        const show = yield* cli(["journal", "show", opId.slice(0, 12), "--state-dir", stateDir])
        expect(show.code).toBe(0)
        expect(show.stdout).toContain(`op        ${opId}`)
        expect(show.stdout).toContain("in-flight")
        const bad = path.join(dir, "bad.yaml")
        fs.writeFileSync(bad, "guests:\n  \"12\":\n    power: sideways\n")
        const broken = yield* cli(["plan", ...connection, "--desired", bad])
        expect(broken.code).toBe(1)
        expect(broken.stderr).toContain("guests.12")
      }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))),
    120_000
  )

  it.scopedLive(
    "apply --json under faults: stdout is exactly one JSON document, every log line on stderr",
    () =>
      Effect.gen(function*() {
        const { sim, desiredFile, connection, stateDir } = yield* setup
        // Each mutation is applied and then answered 500: the engine logs while it re-observes.
        sim.cluster.setFaults({ errorAfterRate: 1, errorStatus: 500 })
        const applied = yield* cli(["apply", ...connection, "--desired", desiredFile, "--json"], {
          FELHOM_STATE_DIR: stateDir
        })
        sim.cluster.clearFaults()
        expect(applied.code).toBe(0)
        const report = JSON.parse(applied.stdout) as {
          succeeded: boolean
          results: ReadonlyArray<{ outcome: { _tag: string; detail: string } }>
        }
        expect(report.results.map((r) => r.outcome._tag)).toEqual(["Applied", "Applied"])
        expect(applied.stderr).toContain("outcome unknown; re-observing, never re-sending")
        for (const line of applied.stderr.trimEnd().split("\n")) {
          expect(line).toMatch(/^(timestamp=\S+ level=|felhom-agent: )/)
        }
      }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))),
    120_000
  )
})

describe("CLI: journal on a state directory nothing has run with", () => {
  it.scopedLive(
    "journal list and show refuse a missing state database in one line, and create nothing",
    () =>
      Effect.gen(function*() {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "felhom-cli-"))),
          (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
        )
        const missing = path.join(dir, "no", "such", "dir")
        for (const args of [["journal", "list"], ["journal", "show", "abc"]]) {
          const r = yield* cli([...args, "--state-dir", missing])
          expect(r.code).toBe(1)
          expect(r.stdout).toBe("")
          expect(r.stderr).toBe(
            `felhom-agent: no state database in ${missing} (nothing has run with this state directory; check --state-dir or FELHOM_STATE_DIR)\n`
          )
        }
        expect(fs.existsSync(path.join(dir, "no"))).toBe(false)
      }),
    60_000
  )
})
