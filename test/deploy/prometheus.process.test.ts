/**
 * The Prometheus alert rules (docs/operations.md, "Alerts and dashboard"): promtool accepts
 * deploy/prometheus/felhom-agent.rules.yml and its unit tests (felhom-agent.rules.test.yml)
 * pass; every alert carries what an operator needs at 3 a.m., and docs/operations.md lists it
 * with the same runbook; every series named is one the agent defines. The promtool checks are
 * skipped, visibly, where Debian's `prometheus` package (which ships promtool) is missing;
 * .ci/run installs it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import {
  alertRules,
  definedFamilies,
  familyOf,
  onPath,
  OPERATIONS_DOC,
  RULES_DIR,
  RULES_FILE,
  RULES_TEST_FILE,
  selectors
} from "./monitoring.js"

const hasPromtool = onPath("promtool")
const skipped = hasPromtool
  ? ""
  : " [SKIPPED: promtool is not installed; `apt-get install prometheus` provides it, .ci/run does so]"

const promtool = (...args: ReadonlyArray<string>) => {
  const result = ChildProcess.spawnSync("promtool", args, { cwd: RULES_DIR, encoding: "utf8", timeout: 30_000 })
  return { status: result.status, output: `${result.stdout ?? ""}${result.stderr ?? ""}` }
}

describe("Prometheus alert rules", () => {
  it.skipIf(!hasPromtool)(`promtool check rules accepts felhom-agent.rules.yml${skipped}`, () => {
    const result = promtool("check", "rules", RULES_FILE)
    expect(result.output).toMatch(/SUCCESS: \d+ rules found/)
    expect(result.status, result.output).toBe(0)
  })

  it.skipIf(!hasPromtool)(`promtool test rules: every alert fires when it should and not otherwise${skipped}`, () => {
    const result = promtool("test", "rules", RULES_TEST_FILE)
    expect(result.output).toContain("SUCCESS")
    expect(result.output).not.toContain("FAILED")
    expect(result.status, result.output).toBe(0)
  })

  it("every alert has a severity, a summary, a description and a runbook with a command to run", () => {
    const rules = alertRules()
    expect(rules.length).toBeGreaterThanOrEqual(10)
    for (const rule of rules) {
      expect(["critical", "warning", "info"], rule.alert).toContain(rule.labels["severity"])
      for (const key of ["summary", "description", "runbook"]) {
        expect(rule.annotations[key]?.trim().length ?? 0, `${rule.alert}: ${key}`).toBeGreaterThan(20)
      }
      // The first thing to run, quoted: `felhom-agent status`, `journalctl -u felhom-agent …`.
      expect(rule.annotations["runbook"], rule.alert).toMatch(/`[^`]+`/)
    }
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length)
  })

  it("covers day one: down, not ready, reconcile failing, drift, operator ops, nonce store, hub, PVE latency", () => {
    const exprs = alertRules().map((r) => r.expr)
    const covered = (pattern: RegExp) => exprs.some((e) => pattern.test(e))
    expect(covered(/up\{job="felhom-agent"\} == 0/)).toBe(true)
    expect(covered(/absent\(up\{job="felhom-agent"\}\)/)).toBe(true)
    expect(covered(/felhom_ready == 0/)).toBe(true)
    expect(covered(/rate\(felhom_reconcile_pass_failures_total/)).toBe(true)
    expect(covered(/felhom_reconcile_drift > 0/)).toBe(true)
    expect(covered(/felhom_journal_ops\{phase="needs-operator"\}/)).toBe(true)
    expect(covered(/felhom_nonce_store_entries \/ felhom_nonce_store_capacity/)).toBe(true)
    expect(covered(/felhom_hub_/)).toBe(true)
    expect(covered(/histogram_quantile\(0\.95,[\s\S]*felhom_pve_request_seconds_bucket/)).toBe(true)
  })

  it("names only series the agent defines", () => {
    const defined = definedFamilies()
    expect(defined.size).toBeGreaterThan(10)
    for (const rule of alertRules()) {
      for (const { name } of selectors(rule.expr)) {
        if (name === "up") continue
        expect(defined.has(familyOf(name, defined)), `${rule.alert}: ${name} is not a felhom_* series defined in src/`)
          .toBe(true)
      }
    }
  })

  it("docs/operations.md lists every alert with its severity and its runbook as the rule has it", () => {
    const doc = fs.readFileSync(OPERATIONS_DOC, "utf8")
    for (const rule of alertRules()) {
      const line = doc.split("\n").find((l) => l.startsWith(`- **${rule.alert}** (${rule.labels["severity"]}):`))
      expect(line, rule.alert).toBeDefined()
      expect(line, rule.alert).toContain(rule.annotations["runbook"])
    }
  })
})
