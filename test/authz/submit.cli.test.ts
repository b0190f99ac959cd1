/**
 * The hub developer's walk-through, each command run as `main` runs it, in this process
 * (support/cliInProcess.ts; docs/signed-ops.md runs word for word as processes in
 * test/cli/signedOpsDoc.process.test.ts): keys generate → op sign → op submit (applied in the
 * simulator) → the same envelope again (refused as a replay) → revert (pre-state back).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { DEFAULT_TOKEN_ID } from "../../src/sim/Simulator.js"
import { SEEDS } from "../reconcile/EngineSupport.js"
import { tempDir } from "../state/support.js"
import { runCliInProcess } from "../support/cliInProcess.js"
import { writeConnectionFlags } from "../support/daemon.js"
import { Sim } from "../support/sim.js"

const cli = runCliInProcess

describe("CLI: keys generate → op sign → op submit → replay refused → revert", () => {
  it.scopedLive(
    "a hub developer's op runs once, its replay is refused, and revert restores the guest",
    () =>
      Effect.gen(function*() {
        const sim = yield* Sim
        const dir = yield* tempDir
        const connection = [...yield* writeConnectionFlags(dir, sim), "--state-dir", path.join(dir, "state")]

        const keys = yield* cli(["keys", "generate", "--out", path.join(dir, "keys")])
        expect(keys.code).toBe(0)
        const signersFile = path.join(dir, "signers.json")
        fs.writeFileSync(signersFile, keys.stdout.slice(keys.stdout.indexOf("{")))

        const signed = yield* cli([
          "op",
          "sign",
          "--key",
          path.join(dir, "keys", "signer.key"),
          "--aud",
          "agent-1",
          "--vmid",
          "100",
          "--action",
          "set-config",
          "--set",
          "description=from the hub",
          "--seq",
          "1",
          "--op-id",
          "hub-op-1"
        ])
        expect(signed.code).toBe(0)
        const envFile = path.join(dir, "op.json")
        fs.writeFileSync(envFile, signed.stdout)

        const submit = ["op", "submit", envFile, ...connection, "--signers", signersFile, "--agent-id", "agent-1"]
        const first = yield* cli(submit)
        expect(first.stderr).toBe("")
        expect(first.code).toBe(0)
        expect(first.stdout).toContain("✓ qemu/100 SetConfig  applied")
        expect((yield* Effect.orDie(sim.cluster.view(100))).config["description"]).toBe("from the hub")

        const replay = yield* cli(submit)
        expect(replay.code).toBe(1)
        expect(replay.stderr).toContain("hub-op-1")
        expect(sim.cluster.mutations().filter((m) => m.user === DEFAULT_TOKEN_ID)).toHaveLength(1)

        const revert = yield* cli(["revert", "hub-op-1", ...connection])
        expect(revert.code).toBe(0)
        expect(revert.stdout).toContain("✓ reverted")
        expect((yield* Effect.orDie(sim.cluster.view(100))).config["description"]).toBe(
          SEEDS[0]?.config?.["description"]
        )
      }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))),
    120_000
  )
})
