/**
 * The Grafana dashboard (docs/operations.md, "Alerts and dashboard"), read as Grafana would
 * import it: the datasource is a variable (so it imports into any Grafana and provisions from
 * a file), agents are chosen with an `instance` variable that every agent query honours, panels
 * do not overlap, and every series named is one the agent defines.
 * test/deploy/prometheusLive.process.test.ts runs each query against a real Prometheus.
 */
import { describe, expect, it } from "@effect/vitest"
import { allPanels, dashboard, dashboardQueries, definedFamilies, familyOf, selectors } from "./monitoring.js"

describe("Grafana dashboard", () => {
  const d = dashboard()
  const panels = allPanels(d)
  const dataPanels = panels.filter((p) => p.type !== "row")

  it("takes its datasource and agents from variables", () => {
    const variables = new Map(d.templating.list.map((v) => [v.name, v]))
    expect(variables.get("datasource")).toMatchObject({ type: "datasource", query: "prometheus" })
    expect(variables.get("instance")).toMatchObject({ type: "query", includeAll: true, multi: true, allValue: ".*" })
    expect(String(variables.get("instance")?.["query"])).toMatch(/^label_values\(felhom_ready.*, instance\)$/)
    expect(d.uid).toBe("felhom-agent")
    for (const p of dataPanels) {
      expect(p.datasource?.uid, p.title).toBe("${datasource}")
      for (const t of p.targets ?? []) expect(t.datasource?.uid ?? "${datasource}", p.title).toBe("${datasource}")
    }
  })

  it("has the day-one panels", () => {
    const titles = dataPanels.map((p) => p.title)
    for (
      const wanted of [
        "Ready",
        "Reconcile passes",
        "Reconcile actions by outcome",
        "Drift and restart-required",
        "Queue depth",
        "Queue wait",
        "PVE request latency p50 by endpoint",
        "PVE request latency p95 by endpoint",
        "PVE task wait by type",
        "Gate refusals by reason",
        "Ops by outcome",
        "Journal ops by phase",
        "Hub failed passes in a row"
      ]
    ) expect(titles).toContain(wanted)
  })

  it("every panel has queries, unique ids and refIds, and no two panels overlap", () => {
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length)
    const cells = new Map<string, string>()
    for (const p of panels) {
      if (p.type !== "row") {
        expect(p.targets?.length ?? 0, p.title).toBeGreaterThan(0)
        const refIds = (p.targets ?? []).map((t) => t.refId)
        expect(new Set(refIds).size, p.title).toBe(refIds.length)
      }
      const g = p.gridPos
      expect(g, p.title).toBeDefined()
      if (g === undefined) continue
      expect(g.x + g.w, p.title).toBeLessThanOrEqual(24)
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const other = cells.get(`${x},${y}`)
          expect(other, `${p.title} overlaps ${other ?? ""}`).toBeUndefined()
          cells.set(`${x},${y}`, p.title)
        }
      }
    }
  })

  it("every felhom_ selector filters on the chosen agents", () => {
    for (const q of dashboardQueries(d)) {
      for (const { name, selector } of selectors(q.expr)) {
        expect(selector, `${q.panel} ${q.refId}: ${name}`).toMatch(/instance=~"\$instance"/)
      }
    }
  })

  it("names only series the agent defines, and no panel says its series is missing", () => {
    const defined = definedFamilies()
    for (const p of dataPanels) {
      // Every series the dashboard shows is exported: a panel calling its own empty would mislead.
      expect(`${p.title} ${p.description ?? ""}`, p.title).not.toMatch(/proposed|not exported|does not record/)
      for (const t of p.targets ?? []) {
        for (const { name } of selectors(t.expr)) {
          if (name === "up") continue
          expect(defined.has(familyOf(name, defined)), `${p.title}: ${name} is not defined in src/`).toBe(true)
        }
      }
    }
  })
})
