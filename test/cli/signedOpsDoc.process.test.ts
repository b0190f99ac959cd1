/**
 * docs/signed-ops.md's walk-through, run as written: the commands are read out of the document.
 * Substitutions, and only these: the simulator gets free ports (port 0) and /tmp paths move
 * into a temp directory; `$EDITOR signers.json` (the operator saving the printed entry) is done
 * by the test with exactly the JSON `keys generate` printed; the simulator's URL and
 * fingerprint in the `export` lines are the ones it printed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { runCli, spawnCli } from "../support/cli.js"
import { shBlock, words } from "../support/docBlocks.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "felhom-signed-doc-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

describe("docs/signed-ops.md walk-through", () => {
  it.live(
    "every command runs as written: key, sign, verify, submit, replay refused, journal, revert",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const dir = yield* tempDir
        const local = (l: string) => l.replaceAll("/tmp/", `${dir}/`)
        const lines = shBlock("docs/signed-ops.md", "## Walk-through against the simulator").map(local)
        const [simLine, ...rest] = lines
        expect(simLine).toMatch(/^felhom-agent sim /)
        const simArgs = words(simLine ?? "").slice(1).map((
          a,
          i,
          all
        ) => (all[i - 1] === "--port" || all[i - 1] === "--control-port" ? "0" : a))
        const sim = yield* spawnCli(simArgs, /CA file: /)
        const url = /listening on (https:\/\/\S+)/.exec(sim.output())?.[1] ?? ""
        const fingerprint = /fingerprint: (\S+)/.exec(sim.output())?.[1] ?? ""
        const env: Record<string, string> = {}
        const results: Array<
          { readonly line: string; readonly code: number | null; readonly stdout: string; readonly stderr: string }
        > = []
        let printedSigners = ""
        for (const line of rest) {
          if (line.startsWith("export ")) {
            for (const w of words(line).slice(1)) {
              const [key = "", value = ""] = w.split("=")
              env[key] = key === "FELHOM_PVE_URL" ? url : key === "FELHOM_PVE_FINGERPRINT" ? fingerprint : value
            }
            continue
          }
          if (line.startsWith("$EDITOR ")) {
            Fs.writeFileSync(words(line)[1] ?? "", printedSigners)
            continue
          }
          const [cmd, ...args] = words(line)
          expect(cmd, line).toBe("felhom-agent")
          const redirect = args.indexOf(">")
          const argv = redirect === -1 ? args : args.slice(0, redirect)
          const r = yield* runCli(argv, env, { timeout: 60_000 })
          if (redirect !== -1) Fs.writeFileSync(args[redirect + 1] ?? "", r.stdout)
          if (argv[0] === "keys") printedSigners = r.stdout.slice(r.stdout.indexOf("{"))
          results.push({ line, ...r })
        }
        const byStep = results.map((r) => [words(r.line).slice(1, 3).join(" "), r.code])
        expect(byStep).toEqual([
          ["guests", 0],
          ["keys generate", 0],
          ["op sign", 0],
          ["op verify", 0],
          ["op submit", 0],
          ["op submit", 1],
          ["journal show", 0],
          ["revert hub-op-1", 0]
        ])
        const [, , , , submit, replay, show, revert] = results
        expect(submit?.stdout).toMatch(/^✓ qemu\/100 SetConfig {2}applied \(OK\): verified {2}\(op hub-op-1\)\n$/)
        expect(replay?.stderr).toMatch(/^felhom-agent: op hub-op-1 .*replay/i)
        expect(show?.stdout).toContain("op        hub-op-1")
        expect(revert?.stdout).toMatch(
          /^✓ reverted: qemu\/100 SetConfig {2}applied \(OK\): verified {2}\(op revert:hub-op-1\)\n$/
        )
      })),
    180_000
  )
})
