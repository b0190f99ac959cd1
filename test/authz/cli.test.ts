import { Command } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { vi } from "vitest"
import { keysCommand, opCommand } from "../../src/cli/commands/op.js"
import { tempDir } from "../state/support.js"

const root = Command.make("felhom-agent").pipe(Command.withSubcommands([keysCommand, opCommand]))
const cli = Command.run(root, { name: "felhom-agent", version: "test" })

/** Runs one command line and answers what it printed with console.log. */
const run = (...args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const spy = vi.spyOn(console, "log").mockImplementation((...parts: Array<unknown>) => {
      lines.push(parts.map(String).join(" "))
    })
    // mockRestore also clears the recorded calls, hence the own `lines`.
    yield* Effect.ensuring(cli(["node", "felhom-agent", ...args]), Effect.sync(() => spy.mockRestore()))
    return lines.join("\n")
  }).pipe(Effect.provide(NodeContext.layer))

describe("keys generate / op sign / op verify", () => {
  it.scoped("a generated key signs an op that op verify explains step by step", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const keys = path.join(dir, "keys")
      const generated = yield* run("keys", "generate", "--out", keys)
      const keyid = /keyid:\s+(\S+)/.exec(generated)?.[1] ?? ""
      expect(keyid).toMatch(/^sha256:[0-9a-f]{32}$/)
      expect(fs.statSync(path.join(keys, "signer.key")).mode & 0o777).toBe(0o600)
      const snippet = generated.slice(generated.indexOf("{"))
      const signersFile = path.join(dir, "signers.json")
      fs.writeFileSync(signersFile, snippet)

      const envelope = yield* run(
        "op",
        "sign",
        "--key",
        path.join(keys, "signer.key"),
        "--aud",
        "agent-1",
        "--vmid",
        "101",
        "--action",
        "set-config",
        "--set",
        "description=hello",
        "--set",
        "cores=2",
        "--delete",
        "tags",
        "--seq",
        "3"
      )
      const parsed = JSON.parse(envelope) as { signatures: Array<{ keyid: string }> }
      expect(parsed.signatures[0]?.keyid).toBe(keyid)
      const envFile = path.join(dir, "op.json")
      fs.writeFileSync(envFile, envelope)

      const ok = yield* run("op", "verify", envFile, "--signers", signersFile, "--agent-id", "agent-1")
      expect(ok).toContain("✓ envelope shape")
      expect(ok).toContain("✓ capability")
      expect(ok).toContain("verified: set-config on 101")

      const wrong = yield* run("op", "verify", envFile, "--signers", signersFile, "--agent-id", "agent-2")
      expect(wrong).toContain("✓ payload decode")
      expect(wrong).toMatch(/✗ audience: WrongAudience/)
      expect(wrong).not.toContain("✓ time window")

      // Re-running generate never overwrites a key.
      const again = yield* Effect.either(run("keys", "generate", "--out", keys))
      expect(again._tag).toBe("Left")
    }))

  it.scoped("op sign refuses an invalid op, naming the path", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* run("keys", "generate", "--out", dir)
      const error = yield* Effect.flip(run(
        "op",
        "sign",
        "--key",
        path.join(dir, "signer.key"),
        "--aud",
        "agent-1",
        "--vmid",
        "5",
        "--action",
        "start",
        "--seq",
        "1"
      ))
      expect(error._tag).toBe("OpCliError")
      expect(error._tag === "OpCliError" ? error.reason : "").toContain("target.vmid")
    }))
})
