/**
 * README's "Try it against the simulator" block, run as written: the commands are read out of
 * README.md itself, so the document cannot drift from the program. Two substitutions only: the
 * simulator's fixed ports become free ones (port 0), and /tmp paths move into a temp directory.
 * The environment comes from the block's `export` lines, filled with what `sim` printed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { runCli, spawnCli } from "../support/cli.js"
import { shBlock } from "../support/docBlocks.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "felhom-readme-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

describe("README walk-through", () => {
  it.live(
    "every command of the simulator walk-through runs as written and does what the README says",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const dir = yield* tempDir
        const lines = shBlock("README.md", "### Try it against the simulator")
        const local = (l: string) => l.replaceAll("/tmp/", `${dir}/`)
        const [simLine, ...rest] = lines
        expect(simLine).toMatch(/^felhom-agent sim /)
        const simArgs = local(simLine ?? "").split(/\s+/).slice(1).map((a, i, all) =>
          all[i - 1] === "--port" || all[i - 1] === "--control-port" ? "0" : a
        )
        const sim = yield* spawnCli(simArgs, /CA file: /)
        const printed = sim.output()
        const url = /listening on (https:\/\/\S+)/.exec(printed)?.[1] ?? ""
        const fingerprint = /fingerprint: (\S+)/.exec(printed)?.[1] ?? ""
        // The export lines, with the URL and fingerprint as printed.
        const env: Record<string, string> = {}
        for (const line of rest.filter((l) => l.startsWith("export "))) {
          for (const [, key, value] of line.slice("export ".length).matchAll(/(\w+)=(\S+)/g)) {
            if (key === undefined || value === undefined) continue
            env[key] = key === "FELHOM_PVE_URL" ? url : key === "FELHOM_PVE_FINGERPRINT" ? fingerprint : local(value)
          }
        }
        expect(Object.keys(env).sort()).toEqual(["FELHOM_PVE_FINGERPRINT", "FELHOM_PVE_TOKEN_FILE", "FELHOM_PVE_URL"])
        const results = []
        for (const line of rest.filter((l) => l.startsWith("felhom-agent "))) {
          const args = local(line).split(/\s+/).slice(1)
          results.push({ line, ...(yield* runCli(args, env, { timeout: 60_000 })) })
        }
        const [guests, plan, apply, journal] = results
        expect(results.map((r) => r.line.split(/\s+/)[1])).toEqual(["guests", "plan", "apply", "journal"])
        expect(guests?.code).toBe(0)
        expect((JSON.parse(guests?.stdout ?? "") as ReadonlyArray<{ vmid: number }>).map((g) => g.vmid)).toEqual([
          100,
          101,
          102,
          103,
          104,
          105,
          9000
        ])
        // plan: changes (exit 2), the locked guest skipped, the gate's refusals marked with the way to allow them.
        expect(plan?.code).toBe(2)
        expect(plan?.stdout).toContain("! 104: locked (backup)")
        // Values as PVE holds them and as the document says, not their normalized forms.
        expect(plan?.stdout).toContain(`~ memory: "2048" → "4096"`)
        expect(plan?.stdout).toContain(`~ tags: "prod;web" → "web, prod, Frontend"`)
        expect(plan?.stdout).toContain(
          "✗ refused by the reversibility gate: SetConfig of memory is not on the reconcile allowlist"
        )
        expect(plan?.stdout).toContain(
          "to allow it: --allow-keys memory (or gate.allowKeys / FELHOM_GATE_ALLOW_KEYS), or send it as a signed op"
        )
        expect(plan?.stdout).toContain("Missing (desired, not in the cluster): 1 — 200")
        // apply with the allowlist the README gives: every action succeeds.
        expect(apply?.stderr).toBe("")
        expect(apply?.code).toBe(0)
        expect(apply?.stdout).toMatch(/(\d+)\/\1 action\(s\) succeeded/)
        expect(journal?.code).toBe(0)
        expect(journal?.stdout.split("\n").slice(1).filter((l) => l.includes(" done "))).not.toHaveLength(0)
        // A typo or an out-of-range value is refused by plan, naming its path; nothing is planned.
        const typo = Path.join(dir, "typo.yaml")
        Fs.writeFileSync(
          typo,
          "guests:\n  \"100\":\n    config:\n      memroy: 4096\n  \"101\":\n    config:\n      memory: lots\n"
        )
        const refused = yield* runCli(["plan", "--desired", typo], env, { timeout: 60_000 })
        expect(refused.code).toBe(1)
        expect(refused.stdout).toBe("")
        expect(refused.stderr).toContain("guests.100.config.memroy: not a qemu config key (did you mean memory?)")
        expect(refused.stderr).toContain("guests.101.config.memory: must be")
        // README's Selftest block, as written, against the same simulator (its guest 9000 is tagged).
        const selftest = shBlock("README.md", "## Selftest")
        expect(selftest).toHaveLength(1)
        // Run in the temp directory: its --report path is relative.
        const st = yield* runCli(local(selftest[0] ?? "").split(/\s+/).slice(1), {
          ...env,
          FELHOM_STATE_DIR: `${dir}/state`
        }, { timeout: 120_000, cwd: dir })
        expect(st.stderr).toBe("")
        expect(st.code).toBe(0)
        expect(st.stdout).toContain("# felhom-agent selftest: PASS")
        expect(Fs.readFileSync(Path.join(dir, "selftest.md"), "utf8")).toContain("# felhom-agent selftest: PASS")
        // Converged: the same plan now finds nothing to do.
        const again = yield* runCli(local(plan?.line ?? "").split(/\s+/).slice(1), env, { timeout: 60_000 })
        expect(again.code, again.stdout).toBe(0)
      })),
    180_000
  )
})
