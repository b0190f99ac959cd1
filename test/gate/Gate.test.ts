/** The reversibility gate in the engine: policy refusals (counted, no PVE call) and inverses journaled. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric, Option, Schema } from "effect"
import { SetConfig, SnapshotRollback, Start } from "../../src/domain/Action.js"
import { GuestRef } from "../../src/domain/Guest.js"
import { AgentMetrics } from "../../src/domain/Metrics.js"
import { GateRefused, makeGate } from "../../src/gate/Gate.js"
import { inverseOf } from "../../src/gate/inverse.js"
import { Pve } from "../../src/pve/Pve.js"
import { Engine } from "../../src/reconcile/Engine.js"
import { Journal } from "../../src/state/Journal.js"
import { allowAll, allowAllLayer } from "../support/gate.js"
import { gateLayer, ourMutations } from "./support.js"

const ref = (vmid: number, type: "qemu" | "lxc" = "qemu") =>
  Schema.decodeUnknownSync(GuestRef)({ vmid, node: "pve1", type })

const refusals = (reason: string) =>
  Effect.map(Metric.value(AgentMetrics.gateRefusals.pipe(Metric.tagged("reason", reason))), (s) => Number(s.count))

const digestOf = (vmid: number) => Effect.flatMap(Pve, (pve) => Effect.map(pve.config(ref(vmid)), (c) => c.digest))

describe("Gate policy in the engine", () => {
  it.live("a planned SetConfig on a key outside the allowlist is refused, names the key, calls no PVE mutation, and is counted", () =>
    Effect.gen(function*() {
      const engine = yield* Engine
      const before = yield* refusals("not-allowlisted")
      const digest = yield* digestOf(100)
      const result = yield* engine.run(
        SetConfig.make({ guest: ref(100), set: { memory: 4096, description: "x" }, delete: [], digest }),
        { revision: "r1" }
      )
      expect(result.outcome._tag).toBe("Skipped")
      expect(result.outcome._tag === "Skipped" ? result.outcome.reason : "").toContain("memory")
      expect(result.outcome._tag === "Skipped" ? result.outcome.reason : "").not.toContain("description")
      expect(yield* ourMutations).toHaveLength(0)
      expect(yield* refusals("not-allowlisted")).toBe(before + 1)
      expect(Option.isNone(yield* Effect.flatMap(Journal, (j) => j.get(result.opId)))).toBe(true)
    }).pipe(Effect.provide(gateLayer())))

  it.live("a planned SetConfig on allowlisted keys runs and journals the inverse from the fresh pre-state", () =>
    Effect.gen(function*() {
      const engine = yield* Engine
      const digest = yield* digestOf(100)
      const result = yield* engine.run(
        SetConfig.make({ guest: ref(100), set: { description: "new", onboot: 1 }, delete: ["tags"], digest }),
        { revision: "r1" }
      )
      expect(result.outcome._tag).toBe("Applied")
      const op = yield* Effect.flatMap(Journal, (j) => j.get(result.opId))
      expect(Option.map(op, (o) => o.inverse)).toEqual(Option.some({
        kind: "set-config",
        set: { description: "web server", tags: "prod;web" },
        delete: ["onboot"],
        expect: { description: "new", onboot: 1, tags: null }
      }))
    }).pipe(Effect.provide(gateLayer())))

  it.live("a widened allowlist lets memory through", () =>
    Effect.gen(function*() {
      const engine = yield* Engine
      const digest = yield* digestOf(102)
      const result = yield* engine.run(SetConfig.make({ guest: ref(102), set: { memory: 2048 }, delete: [], digest }), {
        revision: "r1"
      })
      expect(result.outcome._tag).toBe("Applied")
    }).pipe(Effect.provide(gateLayer({ policy: { allowKeys: ["memory"] } }))))

  it.live("an irreversible action from reconcile (planned origin) is refused and counted, even when every key is allowed", () =>
    Effect.gen(function*() {
      const engine = yield* Engine
      const before = yield* refusals("irreversible-unsigned")
      const result = yield* engine.run(SnapshotRollback.make({ guest: ref(100), name: "before" }), { revision: "r1" })
      expect(result.outcome._tag).toBe("Skipped")
      expect(yield* ourMutations).toHaveLength(0)
      expect(yield* refusals("irreversible-unsigned")).toBe(before + 1)
    }).pipe(Effect.provide(gateLayer({ gate: allowAllLayer }))))

  it.live("Start is allowed for reconcile and its inverse is the observed power state", () =>
    Effect.gen(function*() {
      const engine = yield* Engine
      const result = yield* engine.run(Start.make({ guest: ref(102) }), { revision: "r1" })
      expect(result.outcome._tag).toBe("Applied")
      const op = yield* Effect.flatMap(Journal, (j) => j.get(result.opId))
      expect(Option.map(op, (o) => o.inverse)).toEqual(
        Option.some({ kind: "power", status: "stopped", shutdownTimeout: 60 })
      )
    }).pipe(Effect.provide(gateLayer())))
})

describe("Gate (pure)", () => {
  const pre = { status: "running" as const, config: { digest: "d", values: { name: "a" } } }
  it.effect("signed irreversible actions pass; a safety-snapshot policy makes a rollback reversible", () =>
    Effect.gen(function*() {
      const rollback = SnapshotRollback.make({ guest: ref(100), name: "s1" })
      const plain = yield* makeGate({}).check(rollback, { origin: "signed", opId: "op-1", pre })
      expect(plain.inverse).toBeNull()
      const safe = yield* makeGate({ safetySnapshot: true }).check(rollback, { origin: "signed", opId: "op-1", pre })
      expect(safe.before?.action._tag).toBe("SnapshotCreate")
      expect(safe.before?.opId).toBe("op-1:safety")
      expect(safe.inverse).toMatchObject({ kind: "snapshot-rollback" })
      const refused = yield* Effect.flip(
        allowAll.check(rollback, { origin: "planned", opId: "op-1", pre })
      )
      expect(refused).toBeInstanceOf(GateRefused)
    }))

  it("a deleted key that was absent needs no undo; a set key that was absent is deleted", () => {
    const inv = inverseOf(
      SetConfig.make({ guest: ref(100), set: { tags: "a" }, delete: ["onboot", "name"], digest: "" }),
      pre
    )
    expect(inv).toEqual({
      kind: "set-config",
      set: { name: "a" },
      delete: ["tags"],
      expect: { tags: "a", onboot: null, name: null }
    })
  })
})
