/**
 * `felhom-agent selftest` as an operator runs it (in this process, as `main` runs it:
 * support/cliInProcess.ts) against a simulator over HTTPS with a pinned fingerprint. The
 * contract: the report file is written, `--json` prints the same report as parseable JSON,
 * exit 0 only when every task passed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { SelftestReport } from "../../src/selftest/report.js"
import { runCliInProcess } from "../support/cliInProcess.js"
import { writeConnectionFlags } from "../support/daemon.js"
import { Sim } from "../support/sim.js"
import { GUESTS, QEMU_VMID, UNTAGGED_VMID } from "./support.js"

const cli = (args: ReadonlyArray<string>) => runCliInProcess(args)

const setup = Effect.gen(function*() {
  const sim = yield* Sim
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "felhom-selftest-"))),
    (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
  )
  const base = ["selftest", ...yield* writeConnectionFlags(dir, sim), "--state-dir", path.join(dir, "state")]
  return { sim, dir, base, secret: Redacted.value(sim.tokenSecret) }
})

describe("CLI: selftest", () => {
  it.scopedLive("passes on a tagged guest: exit 0, Markdown report written, --json parses with the same verdict", () =>
    Effect.gen(function*() {
      const { dir, base, secret } = yield* setup
      const reportFile = path.join(dir, "REPORT.md")
      const run = yield* cli([...base, "--vmid", String(QEMU_VMID), "--report", reportFile, "--json"])
      expect(run.stderr).toBe("")
      expect(run.code).toBe(0)
      const report = JSON.parse(run.stdout) as SelftestReport
      expect(report.verdict).toBe("pass")
      expect(report.steps.filter((s) => s.upid !== undefined)).toHaveLength(5)
      const md = fs.readFileSync(reportFile, "utf8")
      expect(md).toContain("# felhom-agent selftest: PASS")
      expect(md).toContain(`- PVE version: ${report.pveVersion ?? "?"}`)
      for (const s of report.steps) if (s.upid !== undefined) expect(md).toContain(s.upid)
      expect(md).not.toContain(secret)
      expect(run.stdout).not.toContain(secret)
      expect(fs.existsSync(path.join(dir, "state", "state.db"))).toBe(true)
    }).pipe(Effect.provide(Sim.layer({ guests: GUESTS, taskDuration: 5 }))))

  it.scopedLive("refuses an untagged guest: exit 1 and the report says why", () =>
    Effect.gen(function*() {
      const { sim, dir, base } = yield* setup
      const reportFile = path.join(dir, "REPORT.md")
      const run = yield* cli([...base, "--vmid", String(UNTAGGED_VMID), "--report", reportFile])
      expect(run.code).toBe(1)
      expect(run.stdout).toContain("# felhom-agent selftest: REFUSED")
      expect(fs.readFileSync(reportFile, "utf8")).toContain("not designated")
      expect(sim.cluster.mutations()).toEqual([])
    }).pipe(Effect.provide(Sim.layer({ guests: GUESTS, taskDuration: 5 }))))
})
