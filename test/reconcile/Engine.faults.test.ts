/**
 * The Engine when the world moves or the wire breaks: digest conflicts, locks, responses lost
 * after PVE applied the change (never re-sent), and the post-state check recovery uses.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { Pve } from "../../src/pve/Pve.js"
import { Engine } from "../../src/reconcile/Engine.js"
import { NodeScope } from "../../src/reconcile/NodeScope.js"
import { revertOp } from "../../src/reconcile/revert.js"
import { DEFAULT_TOKEN_ID } from "../../src/sim/Simulator.js"
import { Journal } from "../../src/state/Journal.js"
import { recover } from "../../src/state/Recovery.js"
import { Sim } from "../support/sim.js"
import { desired, engineLayer, ours, planNow, runAll } from "./EngineSupport.js"

describe("Engine: conflicts and locks", () => {
  it.live("a config edited between plan and run → Conflict, nothing forced, the next pass converges", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const engine = yield* Engine
      const doc = desired({ guests: { 100: { config: { description: "planned" } }, 101: { config: { cores: 2 } } } })
      const { plan: p } = yield* planNow(doc)
      sim.cluster.edit(100, { set: { onboot: 1 } })
      sim.cluster.edit(101, { set: { swap: 256 } })
      const results = yield* Effect.forEach(p.actions, (a) => engine.run(a, { revision: p.revision }))
      expect(results.map((r) => r.outcome._tag)).toEqual(["Conflict", "Conflict"])
      expect(yield* ours).toEqual([])
      const op = yield* Effect.flatMap(Journal, (j) => j.get(results[0]?.opId ?? ""))
      expect(Option.map(op, (o) => [o.phase, o.detail?.errorTag])).toEqual(Option.some(["failed", "PveDigestMismatch"]))
      const next = yield* runAll(doc)
      expect(next.map((r) => r.outcome._tag)).toEqual(["Applied", "Applied"])
      expect((yield* planNow(doc)).plan.actions).toEqual([])
      // The other user's edits survive: the write carried only our keys.
      const view = yield* Effect.orDie(sim.cluster.view(100))
      expect(view.config["onboot"]).toBe("1")
    }).pipe(Effect.provide(engineLayer())))

  it.live("a guest locked after planning is skipped with the lock named (sync error and task error)", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const engine = yield* Engine
      const doc = desired({ guests: { 101: { config: { description: "x" } }, 102: { power: "running" } } })
      const { plan: p } = yield* planNow(doc)
      sim.cluster.setLock(101, "backup")
      sim.cluster.setLock(102, "snapshot")
      const results = yield* Effect.forEach(p.actions, (a) => engine.run(a, { revision: p.revision }))
      expect(results.map((r) => r.outcome)).toEqual([
        { _tag: "Skipped", reason: "locked (backup)" },
        { _tag: "Skipped", reason: "locked (snapshot)" }
      ])
      expect(yield* ours).toEqual([])
      // While the lock stays, plan() itself skips the guests, naming the lock.
      const again = yield* planNow(doc)
      expect(again.plan.actions).toEqual([])
      expect(again.plan.skipped.map((s) => s.reason)).toEqual([
        "locked (backup): retry once PVE releases the lock",
        "locked (snapshot): retry once PVE releases the lock"
      ])
    }).pipe(Effect.provide(engineLayer())))
})

describe("Engine: a mutation whose answer was lost", () => {
  it.live("applied but the response dropped → resolved by re-observation as applied, sent exactly once", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const doc = desired({
        guests: {
          100: { config: { description: "lost answer" } },
          101: { config: { description: "lost too" } },
          102: { power: "running" }
        }
      })
      sim.cluster.setFaults({ dropAfterRate: 1 })
      const results = yield* runAll(doc)
      sim.cluster.clearFaults()
      expect(results.map((r) => r.outcome._tag)).toEqual(["Applied", "Applied", "Applied"])
      const [qemuConfig, lxcConfig, start] = results
      // qemu config and start left tasks: found in the task list and adopted.
      if (qemuConfig?.outcome._tag === "Applied") expect(qemuConfig.outcome.upid).toContain(":qmconfig:100:")
      if (start?.outcome._tag === "Applied") expect(start.outcome.upid).toContain(":qmstart:102:")
      // lxc config has no task: the post-state shows it.
      if (lxcConfig?.outcome._tag === "Applied") expect(lxcConfig.outcome.upid).toBeUndefined()
      const log = yield* ours
      expect(log.map((m) => [m.vmid, m.kind])).toEqual(
        expect.arrayContaining([[100, "config"], [101, "config"], [102, "start"]])
      )
      expect(log).toHaveLength(3)
      expect((yield* planNow(doc)).plan.actions).toEqual([])
    }).pipe(Effect.provide(engineLayer())))

  it.live("a request dropped before PVE handled it → re-observed as not applied → Failed; the next pass runs it once", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const doc = desired({ guests: { 103: { power: "running" } } })
      sim.cluster.setFaults({ dropBeforeRate: 1 })
      const [first] = yield* runAll(doc)
      sim.cluster.clearFaults()
      // The socket died after the request was written: PVE may have seen it, so the engine
      // re-observes instead of re-sending; the guest did not start, so the op is "not applied".
      expect(first?.outcome._tag).toBe("Failed")
      expect(yield* ours).toEqual([])
      const [second] = yield* runAll(doc)
      expect(second?.outcome._tag).toBe("Applied")
      expect(second?.opId).toBe(first?.opId)
      expect(yield* ours).toHaveLength(1)
    }).pipe(Effect.provide(engineLayer())))
})

describe("Engine: 5xx answers", () => {
  it.live("a 500 proves nothing: re-observed; PVE had refused it → Failed (not applied), the next pass runs it once", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const doc = desired({ guests: { 103: { power: "running" } } })
      sim.cluster.setFaults({ errorRate: 1, errorStatus: 500, pathPattern: "/status/start$" })
      const [first] = yield* runAll(doc)
      sim.cluster.clearFaults()
      expect(first?.outcome).toMatchObject({ _tag: "Failed", errorTag: "NotApplied" })
      expect(yield* ours).toEqual([])
      const [second] = yield* runAll(doc)
      expect(second?.outcome._tag).toBe("Applied")
      expect(yield* ours).toHaveLength(1)
    }).pipe(Effect.provide(engineLayer())))

  it.live("a 500 after PVE applied the change → done (confirmed by observation), sent once, and revertible", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const journal = yield* Journal
      const doc = desired({
        guests: {
          100: { config: { description: "v1" } },
          101: { config: { description: "v1" } },
          103: { power: "running" }
        }
      })
      sim.cluster.setFaults({ errorAfterRate: 1, errorStatus: 500 })
      const results = yield* runAll(doc)
      sim.cluster.clearFaults()
      expect(results.map((r) => r.outcome._tag)).toEqual(["Applied", "Applied", "Applied"])
      expect(yield* ours).toHaveLength(3)
      for (const r of results) {
        const op = yield* journal.get(r.opId)
        expect(Option.map(op, (o) => o.phase)).toEqual(Option.some("done"))
      }
      // The qemu config write and the start left tasks: adopted from the task list.
      const [qemuConfig, lxcConfig, start] = results
      if (qemuConfig?.outcome._tag === "Applied") expect(qemuConfig.outcome.upid).toContain(":qmconfig:100:")
      if (start?.outcome._tag === "Applied") expect(start.outcome.upid).toContain(":vzstart:103:")
      if (lxcConfig?.outcome._tag === "Applied") expect(lxcConfig.outcome.detail).toContain("confirmed by observation")
      expect((yield* planNow(doc)).plan.actions).toEqual([])
      // revert works on an op whose change is on PVE, whatever its answer was.
      const undone = yield* Effect.either(
        revertOp(qemuConfig?.opId ?? "").pipe(Effect.provide(NodeScope.layer({ mode: "node" })))
      )
      expect(undone._tag === "Right" && undone.right.outcome._tag).toBe("Applied")
    }).pipe(Effect.provide(engineLayer())))

  it.live("an older unjournaled task of ours is never adopted: a request dropped before PVE saw it stays not applied", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const pve = yield* Pve
      const { plan: p1 } = yield* planNow(desired({ guests: { 100: { config: { description: "v1" } } } }))
      const [write] = p1.actions
      if (write?._tag !== "SetConfig") return expect.fail("expected a SetConfig")
      // A qmconfig task of our token user that no op journaled (a write whose answer was lost
      // by an older agent, or one made by hand with the agent's token).
      yield* pve.setConfig(write.guest, { set: write.set, delete: [], digest: write.digest })
      // v2: the connection drops before PVE sees the request.
      sim.cluster.setFaults({ dropBeforeRate: 1 })
      const v2doc = desired({ guests: { 100: { config: { description: "v2" } } } })
      const [v2] = yield* runAll(v2doc)
      sim.cluster.clearFaults()
      expect(v2?.outcome).toMatchObject({ _tag: "Failed", errorTag: "NotApplied" })
      const op = yield* Effect.flatMap(Journal, (j) => j.get(v2?.opId ?? ""))
      expect(Option.map(op, (o) => [o.phase, o.upid])).toEqual(Option.some(["failed", null]))
      expect(yield* ours).toHaveLength(1)
      // The plan still wants v2, and the next pass applies it once.
      expect((yield* planNow(v2doc)).plan.actions).toHaveLength(1)
      const [again] = yield* runAll(v2doc)
      expect(again?.outcome._tag).toBe("Applied")
      expect(yield* ours).toHaveLength(2)
    }).pipe(Effect.provide(engineLayer())))

  it.live("a proxy error (596) may hide an applied request: resolved by re-observing, never re-sent", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const doc = desired({ guests: { 103: { power: "running" } } })
      sim.cluster.setFaults({ errorRate: 1, errorStatus: 596, pathPattern: "/status/start$" })
      const [first] = yield* runAll(doc)
      sim.cluster.clearFaults()
      expect(first?.outcome).toMatchObject({ _tag: "Failed", errorTag: "NotApplied" })
      expect(yield* ours).toEqual([])
      const [second] = yield* runAll(doc)
      expect(second?.outcome._tag).toBe("Applied")
      expect(yield* ours).toHaveLength(1)
    }).pipe(Effect.provide(engineLayer())))
})

describe("Engine.checkPostState with start-up recovery", () => {
  it.live("an intent whose call reached PVE before a crash is adopted from the task list and finished", () =>
    Effect.gen(function*() {
      const engine = yield* Engine
      const journal = yield* Journal
      const pve = yield* Pve
      const { plan: p, observed } = yield* planNow(
        desired({ guests: { 103: { power: "running" }, 101: { config: { cores: 3 } } } })
      )
      const [config, start] = p.actions
      if (config?._tag !== "SetConfig" || start?._tag !== "Start") return expect.fail("unexpected plan")
      // What a crashed run leaves: intents journaled, calls made, nothing else recorded.
      for (
        const [action, opId, name, params] of [
          [config, "op-config", "set-config", { set: config.set, delete: [], digest: config.digest }],
          [start, "op-start", "start", {}]
        ] as const
      ) {
        yield* journal.intent({
          opId,
          origin: "planned",
          vmid: action.guest.vmid,
          node: action.guest.node,
          guestType: action.guest.type,
          action: name,
          params,
          preState: null,
          preDigest: null,
          inverse: null,
          tokenUser: DEFAULT_TOKEN_ID
        })
      }
      yield* pve.setConfig(config.guest, { set: config.set, delete: [], digest: config.digest })
      const task = yield* pve.power(start.guest, "start")
      if (task._tag === "Task") yield* pve.waitTask(task.upid, { deadline: "10 seconds" })
      const summary = yield* recover({ checkPostState: engine.checkPostState, retryBase: "10 millis" })
      expect(summary.counts).toEqual({ "done": 2, "failed": 0, "needs-operator": 0, "unresolved": 0 })
      expect(observed.length).toBeGreaterThan(0)
      const adopted = yield* journal.get("op-start")
      expect(Option.map(adopted, (o) => o.upid)).toEqual(Option.some(task._tag === "Task" ? task.upid : null))
    }).pipe(Effect.provide(engineLayer())))
})
