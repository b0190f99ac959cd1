/**
 * Bad or missing arguments, as an operator types them: every command answers with one
 * `felhom-agent: <what>` line on stderr (plus at most one hint line), nothing on stdout, exit 1.
 * In-process (support/cliInProcess.ts); help as a piped process shows it: help.process.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { runCliInProcess } from "../support/cliInProcess.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "felhom-errors-"))
const token = path.join(dir, "token")
fs.writeFileSync(token, "felhom@pve!agent=00000000-0000-0000-0000-000000000000\n", { mode: 0o600 })
const goodYaml = path.join(dir, "good.yaml")
fs.writeFileSync(goodYaml, "guests:\n  \"100\":\n    power: running\n")
const badYaml = path.join(dir, "bad.yaml")
fs.writeFileSync(badYaml, "guests:\n  \"100\":\n    config: [a\n  b: }\n")
const pve = ["--pve-url", "https://127.0.0.1:9", "--token-file", token]

const CASES: ReadonlyArray<{ readonly args: ReadonlyArray<string>; readonly line: RegExp; readonly hint?: RegExp }> = [
  {
    args: ["guests"],
    line: /^felhom-agent: missing --pve-url, --token-file$/,
    hint: /FELHOM_PVE_URL.*FELHOM_PVE_TOKEN_FILE/
  },
  { args: ["plan", "--desired", "x.yaml"], line: /^felhom-agent: missing --pve-url, --token-file$/ },
  { args: ["plan", ...pve, "--desired", "x.yaml", "--bogus"], line: /^felhom-agent: unknown argument '--bogus'$/ },
  {
    args: ["plan", ...pve, "--desired", path.join(dir, "none.yaml")],
    line: /^felhom-agent: cannot read desired state file \S+: no such file$/
  },
  {
    args: ["plan", ...pve, "--desired", badYaml],
    line: /^felhom-agent: desired state from \S+ rejected: .*invalid YAML: .* at line \d+, column \d+$/
  },
  { args: ["apply", ...pve], line: /^felhom-agent: missing --desired$/ },
  {
    args: ["apply", "--desired", goodYaml, "--state-dir", path.join(dir, "no-daemon")],
    line:
      /^felhom-agent: no daemon serves \S+, so this command connects to PVE itself: missing --pve-url \(or FELHOM_PVE_URL\), --token-file \(or FELHOM_PVE_TOKEN_FILE\)$/
  },
  { args: ["sim", "--port", "abc"], line: /^felhom-agent: 'abc' is not a integer$/ },
  {
    args: ["journal", "list", "--limit", "100000", "--state-dir", dir],
    line: /^felhom-agent: --limit must be between 1 and 10000, got 100000$/
  },
  {
    args: ["journal", "show", "x", "--state-dir", path.join(dir, "nothing")],
    line: /^felhom-agent: no state database in /
  },
  {
    args: ["op", "submit", path.join(dir, "none.json"), ...pve, "--state-dir", dir],
    line: /^felhom-agent: cannot read envelope file \S+: no such file$/
  },
  { args: ["daemon", "--config", path.join(dir, "none.yaml")], line: /^felhom-agent: / }
]

describe("errors have one shape", () => {
  it.live(
    "each bad invocation: one felhom-agent line (+ at most one hint), nothing on stdout, exit 1",
    () =>
      Effect.gen(function*() {
        const results = yield* Effect.forEach(
          CASES,
          (c) => Effect.map(runCliInProcess(c.args, { FELHOM_STATE_DIR: dir }), (r) => ({ c, r })),
          { concurrency: 4 }
        )
        for (const { c, r } of results) {
          const lines = r.stderr.trimEnd().split("\n")
          expect(r.code, `${c.args.join(" ")}\n${r.stderr}`).toBe(1)
          expect(r.stdout, c.args.join(" ")).toBe("")
          expect(lines[0], c.args.join(" ")).toMatch(c.line)
          expect(lines.length, `${c.args.join(" ")}\n${r.stderr}`).toBeLessThanOrEqual(2)
          if (lines[1] !== undefined) expect(lines[1]).toMatch(/^ {2}\S/)
          if (c.hint !== undefined) expect(lines[1]).toMatch(c.hint)
        }
        // Refused before the state directory's lock: nothing was created there.
        expect(fs.existsSync(path.join(dir, "no-daemon"))).toBe(false)
      }),
    120_000
  )
})
