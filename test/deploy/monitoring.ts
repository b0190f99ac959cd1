/**
 * Shared reading of the monitoring deploy files (deploy/prometheus/felhom-agent.rules.yml and
 * deploy/grafana/felhom-agent.json) for the tests beside it: the alert rules and dashboard
 * queries, and the series they name.
 */
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { parse } from "yaml"
import { ROOT } from "../support/cli.js"

export const RULES_DIR = path.join(ROOT, "deploy/prometheus")
export const RULES_FILE = path.join(RULES_DIR, "felhom-agent.rules.yml")
export const RULES_TEST_FILE = path.join(RULES_DIR, "felhom-agent.rules.test.yml")
export const DASHBOARD_FILE = path.join(ROOT, "deploy/grafana/felhom-agent.json")
export const OPERATIONS_DOC = path.join(ROOT, "docs/operations.md")

/** The scrape job the rules' `up{job="felhom-agent"}` alerts expect. */
export const SCRAPE_JOB = "felhom-agent"

/** Whether `command` is on PATH (promtool, prometheus). */
export const onPath = (command: string): boolean =>
  ChildProcess.spawnSync("sh", ["-c", `command -v ${command}`]).status === 0

export interface AlertRule {
  readonly group: string
  readonly alert: string
  readonly expr: string
  readonly for?: string
  readonly labels: Readonly<Record<string, string>>
  readonly annotations: Readonly<Record<string, string>>
}

export const alertRules = (): ReadonlyArray<AlertRule> => {
  const doc = parse(fs.readFileSync(RULES_FILE, "utf8")) as {
    groups: ReadonlyArray<{ name: string; rules: ReadonlyArray<Record<string, unknown>> }>
  }
  return doc.groups.flatMap((g) =>
    g.rules.filter((r) => typeof r["alert"] === "string").map((r): AlertRule => ({
      group: g.name,
      alert: String(r["alert"]),
      expr: String(r["expr"]),
      ...(typeof r["for"] === "string" ? { for: r["for"] } : {}),
      labels: (r["labels"] ?? {}) as Record<string, string>,
      annotations: (r["annotations"] ?? {}) as Record<string, string>
    }))
  )
}

export interface DashboardPanel {
  readonly id: number
  readonly type: string
  readonly title: string
  readonly description?: string
  readonly datasource?: { readonly type?: string; readonly uid?: string }
  readonly gridPos?: { readonly h: number; readonly w: number; readonly x: number; readonly y: number }
  readonly targets?: ReadonlyArray<
    { readonly refId: string; readonly expr: string; readonly datasource?: { readonly uid?: string } }
  >
  readonly panels?: ReadonlyArray<DashboardPanel>
}

export interface Dashboard {
  readonly title: string
  readonly uid: string
  readonly templating: {
    readonly list: ReadonlyArray<Record<string, unknown> & { readonly name: string; readonly type: string }>
  }
  readonly panels: ReadonlyArray<DashboardPanel>
}

export const dashboard = (): Dashboard => JSON.parse(fs.readFileSync(DASHBOARD_FILE, "utf8")) as Dashboard

/** Every panel, including those inside collapsed rows. */
export const allPanels = (d: Dashboard): ReadonlyArray<DashboardPanel> =>
  d.panels.flatMap((p) => [p, ...(p.panels ?? [])])

export interface PanelQuery {
  readonly panel: string
  readonly refId: string
  readonly expr: string
}

export const dashboardQueries = (d: Dashboard = dashboard()): ReadonlyArray<PanelQuery> =>
  allPanels(d).flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr })))

/**
 * A dashboard query as Prometheus would receive it with every agent selected: Grafana's
 * variables replaced (`$__rate_interval` by a window that holds several 1 s scrapes).
 */
export const forPrometheus = (expr: string, rateInterval = "1m"): string =>
  expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, rateInterval)
    .replace(/\$__interval|\$\{__interval\}/g, "15s")
    .replace(/\$\{?(instance|job)\}?/g, ".*")

const FAMILY_SUFFIXES = ["_bucket", "_count", "_sum"] as const

/** The metric family a sample name belongs to (`…_bucket`, `…_count`, `…_sum` stripped). */
export const familyOf = (name: string, known: ReadonlySet<string>): string => {
  if (known.has(name)) return name
  for (const suffix of FAMILY_SUFFIXES) {
    if (name.endsWith(suffix) && known.has(name.slice(0, -suffix.length))) return name.slice(0, -suffix.length)
  }
  return name
}

/**
 * The instant-vector selectors of an expression that name a series: `felhom_*` and `up`, each
 * with its label matchers (`felhom_ready{instance=~".*"}`). A regex, not a PromQL parser: good
 * for the expressions in these files, which never put a metric name inside a string.
 */
export const selectors = (expr: string): ReadonlyArray<{ readonly name: string; readonly selector: string }> => {
  const out = new Map<string, string>()
  for (const m of expr.matchAll(/\b(felhom_[a-zA-Z0-9_]+|up)(\{[^}]*\})?(?!\s*\()/g)) {
    const name = m[1] ?? ""
    out.set(`${name}${m[2] ?? ""}`, name)
  }
  return [...out].map(([selector, name]) => ({ name, selector }))
}

/** Every `felhom_*` metric name defined in src/ (string literals passed to Metric.counter & co). */
export const definedFamilies = (): ReadonlySet<string> => {
  const names = new Set<string>()
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(file)
      else if (entry.name.endsWith(".ts")) {
        const text = fs.readFileSync(file, "utf8")
        for (
          const m of text.matchAll(
            /Metric\.(?:counter|gauge|histogram|summary|frequency)\(\s*"(felhom_[a-zA-Z0-9_]+)"/g
          )
        ) {
          names.add(m[1] ?? "")
        }
      }
    }
  }
  walk(path.join(ROOT, "src"))
  return names
}
