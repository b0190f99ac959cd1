import { describe, expect, it } from "@effect/vitest"
import type { ClusterGuest } from "../../src/domain/Cluster.js"
import { makeVmid } from "../../src/domain/Vmid.js"
import { type ObservedGuest, plan } from "../../src/reconcile/plan.js"
import { planReport, renderPlan } from "../../src/reconcile/planReport.js"

const row = (vmid: number, node: string): ObservedGuest => {
  const guest: ClusterGuest = { id: `qemu/${vmid}`, vmid: makeVmid(vmid), node, type: "qemu", status: "running" }
  return { guest, status: { status: "running" }, config: { digest: "0".repeat(40), values: {} }, pending: [] }
}

describe("the plan as the operator reads it", () => {
  const desired = { guests: { 100: { power: "running" as const }, 200: { power: "running" as const }, 201: {} } }
  const observed = [row(100, "pve1"), row(200, "pve2"), row(201, "pve2"), row(300, "pve2")]

  it("names each desired guest another node's agent manages, with its node", () => {
    const text = renderPlan(planReport(plan(desired, observed, { node: "pve1" }), observed))
    expect(text.split("\n").slice(-3)).toEqual([
      "Missing (desired, not in the cluster): 0",
      "Unmanaged (in the cluster, not desired; left alone): 0",
      "On other nodes (desired; their nodes' agents manage them): 2 — 200 on pve2, 201 on pve2"
    ])
  })

  it("says nothing of other nodes when this agent owns them all", () => {
    const report = planReport(plan(desired, observed), observed)
    expect(report.elsewhere).toEqual([])
    expect(renderPlan(report)).not.toContain("On other nodes")
    expect(renderPlan(report).split("\n").at(-1)).toBe("Unmanaged (in the cluster, not desired; left alone): 1")
  })
})
