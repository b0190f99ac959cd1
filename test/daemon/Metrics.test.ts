import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Metric, MetricBoundaries } from "effect"
import {
  endpointTemplate,
  prometheusText,
  recordGateRefusal,
  recordOp,
  recordPveRequest,
  renderPrometheus
} from "../../src/domain/Metrics.js"
import { makeVmid } from "../../src/domain/Vmid.js"
import { DesiredProvider } from "../../src/reconcile/DesiredProvider.js"
import { Engine } from "../../src/reconcile/Engine.js"
import { GuestQueue } from "../../src/reconcile/GuestQueue.js"
import { NodeScope } from "../../src/reconcile/NodeScope.js"
import { Reconciler } from "../../src/reconcile/Reconciler.js"
import { desired, engineLayer, planNow, runAll } from "../reconcile/EngineSupport.js"
import { Sim } from "../support/sim.js"
import { parsePrometheus, sampleValue } from "./fixtures/prometheus.js"

// Metrics live in one global registry per process; each test uses its own names.
const only = (prefix: string) =>
  Effect.map(Metric.snapshot, (pairs) => pairs.filter((p) => p.metricKey.name.startsWith(prefix)))

describe("renderPrometheus", () => {
  it.effect("renders every metric kind as valid exposition text", () =>
    Effect.gen(function*() {
      const counter = Metric.counter("t1_jobs_total", { description: "Jobs\nwith a \\ newline", incremental: true })
      yield* Metric.update(counter.pipe(Metric.tagged("kind", "a \"quoted\"\nvalue\\")), 3)
      yield* Metric.update(counter.pipe(Metric.tagged("kind", "plain")), 1)
      yield* Metric.set(Metric.gauge("t1_depth"), -2.5)
      const histogram = Metric.histogram("t1_wait_seconds", MetricBoundaries.fromIterable([0.1, 1, 10]), "wait")
      for (const v of [0.05, 0.5, 0.5, 5, 50]) yield* Metric.update(histogram, v)
      const summary = Metric.summary({
        name: "t1_latency",
        maxAge: "1 minute",
        maxSize: 100,
        error: 0.01,
        quantiles: [0.5, 0.9]
      })
      for (const v of [1, 2, 3]) yield* Metric.update(summary, v)
      yield* Metric.update(Metric.frequency("t1_events"), "start")
      yield* Metric.update(Metric.frequency("t1_events"), "start")
      yield* Metric.update(Metric.counter("t1.bad-name", { bigint: true }), 5n)

      const text = renderPrometheus(yield* only("t1"))
      const parsed = parsePrometheus(text)
      expect(parsed.problems).toEqual([])
      expect(parsed.types.get("t1_jobs_total")).toBe("counter")
      expect(parsed.types.get("t1_depth")).toBe("gauge")
      expect(parsed.types.get("t1_wait_seconds")).toBe("histogram")
      expect(parsed.types.get("t1_latency")).toBe("summary")
      expect(parsed.types.get("t1_events")).toBe("counter")
      expect(sampleValue(parsed, "t1_jobs_total", { kind: "a \"quoted\"\nvalue\\" })).toBe(3)
      expect(sampleValue(parsed, "t1_depth")).toBe(-2.5)
      expect(sampleValue(parsed, "t1_wait_seconds_bucket", { le: "0.1" })).toBe(1)
      expect(sampleValue(parsed, "t1_wait_seconds_bucket", { le: "1" })).toBe(3)
      expect(sampleValue(parsed, "t1_wait_seconds_bucket", { le: "10" })).toBe(4)
      expect(sampleValue(parsed, "t1_wait_seconds_bucket", { le: "+Inf" })).toBe(5)
      expect(sampleValue(parsed, "t1_wait_seconds_count")).toBe(5)
      expect(sampleValue(parsed, "t1_wait_seconds_sum")).toBeCloseTo(56.05)
      expect(sampleValue(parsed, "t1_latency_count")).toBe(3)
      expect(sampleValue(parsed, "t1_events", { key: "start" })).toBe(2)
      expect(sampleValue(parsed, "t1_bad_name")).toBe(5)
      expect(text).toContain("# HELP t1_jobs_total Jobs\\nwith a \\\\ newline\n")
    }))

  it.effect("emits a family once even when two definitions share a name", () =>
    Effect.gen(function*() {
      yield* Metric.set(Metric.gauge("t2_same", { description: "one" }), 1)
      yield* Metric.set(Metric.gauge("t2_same", { description: "two" }).pipe(Metric.tagged("x", "y")), 2)
      const parsed = parsePrometheus(renderPrometheus(yield* only("t2")))
      expect(parsed.problems).toEqual([])
      expect(parsed.samples.map((s) => s.value).sort()).toEqual([1, 2])
    }))

  it("renders an empty registry as empty text", () => {
    expect(renderPrometheus([])).toBe("")
  })
})

describe("agent metrics", () => {
  it.effect("ops, gate refusals and PVE requests move when recorded", () =>
    Effect.gen(function*() {
      const before = parsePrometheus(yield* prometheusText)
      const opsBefore = sampleValue(before, "felhom_ops_total", { kind: "SetConfig", outcome: "Applied" }) ?? 0
      yield* recordOp("SetConfig", "Applied")
      yield* recordOp("SetConfig", "Applied")
      yield* recordGateRefusal("irreversible")
      yield* recordPveRequest("GET", "/nodes/pve1/qemu/100/config", 200, 0.012)
      yield* recordPveRequest("GET", "/nodes/pve2/qemu/101/config?current=1", 200, 0.02)
      yield* recordPveRequest("POST", "/nodes/pve1/qemu/100/status/start", "error", 30)
      const after = parsePrometheus(yield* prometheusText)
      expect(after.problems).toEqual([])
      expect(sampleValue(after, "felhom_ops_total", { kind: "SetConfig", outcome: "Applied" })).toBe(opsBefore + 2)
      expect(sampleValue(after, "felhom_gate_refusals_total", { reason: "irreversible" })).toBeGreaterThanOrEqual(1)
      expect(sampleValue(after, "felhom_pve_request_seconds_count", {
        method: "GET",
        endpoint: "/nodes/{node}/qemu/{vmid}/config",
        status: "200"
      })).toBe(2)
      expect(sampleValue(after, "felhom_pve_request_seconds_bucket", {
        endpoint: "/nodes/{node}/qemu/{vmid}/status/start",
        status: "error",
        le: "+Inf"
      })).toBe(1)
    }))

  it.effect("only the agent's own series are served, not Effect's runtime counters", () =>
    Effect.gen(function*() {
      // A handled failure still counts in Effect's effect_fiber_failures.
      yield* Effect.fork(Effect.fail("handled")).pipe(Effect.flatMap((f) => f.await))
      yield* recordOp("Start", "Applied")
      const parsed = parsePrometheus(yield* prometheusText)
      expect([...parsed.types.keys()].filter((name) => !name.startsWith("felhom_"))).toEqual([])
      expect(parsed.types.has("felhom_ops_total")).toBe(true)
    }))

  it.live("an engine run counts its op once in felhom_ops_total, planned and signed alike", () =>
    Effect.gen(function*() {
      const ops = (kind: string, outcome: string) =>
        Effect.map(
          prometheusText,
          (text) => sampleValue(parsePrometheus(text), "felhom_ops_total", { kind, outcome }) ?? 0
        )
      const appliedBefore = yield* ops("SetConfig", "Applied")
      const failedBefore = yield* ops("Start", "Failed")
      const sim = yield* Sim
      sim.cluster.setFaults({ failTasks: [{ vmid: 102, type: "qmstart", message: "start failed: out of memory" }] })
      const planned = yield* runAll(
        desired({ guests: { 100: { config: { description: "counted" } }, 102: { power: "running" } } })
      )
      expect(planned.map((r) => [r.action._tag, r.outcome._tag])).toEqual([["SetConfig", "Applied"], [
        "Start",
        "Failed"
      ]])
      const { plan } = yield* planNow(desired({ guests: { 101: { config: { description: "signed" } } } }))
      const [action] = plan.actions
      if (action === undefined) return expect.fail("nothing planned for guest 101")
      const signed = yield* Effect.flatMap(
        Engine,
        (engine) => engine.run(action, { revision: undefined, opId: "signed-op-1", origin: "signed", kind: "ordered" })
      )
      expect(signed.outcome._tag).toBe("Applied")
      expect(yield* ops("SetConfig", "Applied")).toBe(appliedBefore + 2)
      expect(yield* ops("Start", "Failed")).toBe(failedBefore + 1)
    }).pipe(Effect.provide(engineLayer())))

  it.scoped("the pass counters exist at 0 once a reconciler is built, before any pass", () =>
    Effect.gen(function*() {
      yield* Layer.build(
        Reconciler.layer().pipe(Layer.provide(Layer.mergeAll(engineLayer(), DesiredProvider.Empty, NodeScope.cluster)))
      )
      const parsed = parsePrometheus(yield* prometheusText)
      expect(parsed.problems).toEqual([])
      expect(sampleValue(parsed, "felhom_reconcile_pass_failures_total")).toBe(0)
      expect(sampleValue(parsed, "felhom_reconcile_pass_seconds_count")).toBe(0)
    }))

  it.scoped("GuestQueue's own metrics render too", () =>
    Effect.gen(function*() {
      const queue = Context.get(yield* Layer.build(GuestQueue.layer()), GuestQueue)
      yield* queue.submit(makeVmid(100), "ordered", Effect.void)
      const parsed = parsePrometheus(yield* prometheusText)
      expect(parsed.problems).toEqual([])
      expect(parsed.types.get("felhom_guest_queue_wait_seconds")).toBe("histogram")
      expect(parsed.types.get("felhom_guest_queue_jobs_total")).toBe("counter")
      expect(sampleValue(parsed, "felhom_guest_queue_wait_seconds_count")).toBeGreaterThanOrEqual(1)
    }))
})

describe("endpointTemplate", () => {
  it("replaces node names, vmids, UPIDs and snapshot names with placeholders", () => {
    expect(endpointTemplate("/nodes/pve1/qemu/100/config")).toBe("/nodes/{node}/qemu/{vmid}/config")
    expect(endpointTemplate("/api2/json/nodes/pve-b/lxc/2001/status/current")).toBe(
      "/nodes/{node}/lxc/{vmid}/status/current"
    )
    expect(
      endpointTemplate("/nodes/pve1/tasks/UPID:pve1:000F1A2B:0A1B2C3D:65A0B1C2:qmstart:100:root@pam!felhom:/status")
    )
      .toBe("/nodes/{node}/tasks/{upid}/status")
    expect(endpointTemplate("/nodes/pve1/qemu/100/snapshot/before-upgrade/rollback"))
      .toBe("/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback")
    expect(endpointTemplate("/cluster/resources?type=vm")).toBe("/cluster/resources")
    expect(endpointTemplate("/access/permissions")).toBe("/access/permissions")
  })
})
