/**
 * Bad or missing arguments, as an operator types them: every command answers with one
 * `felhom-agent: <what>` line on stderr (plus at most one hint line), nothing on stdout, exit 1.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { runCli } from "../support/cli.js"

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
          (c) => Effect.map(runCli(c.args, { FELHOM_STATE_DIR: dir }, { timeout: 60_000 }), (r) => ({ c, r })),
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

describe("help fits a terminal", () => {
  it.live(
    "piped: no colour, wrapped to 80 columns (or COLUMNS), one real description per option with its env variable",
    () =>
      Effect.gen(function*() {
        const piped = yield* runCli(["apply", "--help"], {}, { timeout: 60_000 })
        expect(piped.code).toBe(0)
        expect(piped.stdout).not.toContain("\u001b[")
        expect(piped.stdout).not.toContain("A user-defined piece of text.")
        expect(piped.stdout).not.toContain("This option can be set from environment variables.")
        for (const line of piped.stdout.split("\n")) expect(line.length, line).toBeLessThanOrEqual(80)
        // apply needs the connection only when no daemon runs; the help says so, and where it comes from.
        expect(piped.stdout.replace(/\s+/g, " ")).toContain(
          "PVE API base URL, e.g. https://pve1:8006; only without a running daemon (env FELHOM_PVE_URL)"
        )
        const plan = yield* runCli(["plan", "--help"], {}, { timeout: 60_000 })
        expect(plan.stdout).toContain("PVE API base URL, e.g. https://pve1:8006 (env FELHOM_PVE_URL)")
        // An option that may be repeated zero or more times reads as optional.
        const sign = yield* runCli(["op", "sign", "--help"], {}, { timeout: 60_000 })
        const usage = sign.stdout.slice(sign.stdout.indexOf("$ sign"), sign.stdout.indexOf("DESCRIPTION")).replace(
          /\s+/g,
          " "
        )
        expect(usage).toContain("[--delete text]...")
        expect(usage).toContain("[--flag vmstate | start | force | force-stop]...")
        const narrow = yield* runCli(["apply", "--help"], { COLUMNS: "60" }, { timeout: 60_000 })
        for (const line of narrow.stdout.split("\n")) expect(line.length, line).toBeLessThanOrEqual(60)
      }),
    60_000
  )
})
