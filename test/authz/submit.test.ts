/**
 * `submitSignedOp`, the path the hub loop and `op submit` share, as in-process Effects over the
 * simulator: applied, replay refused, reverted; concurrency; restart; no signers; capabilities.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as path from "node:path"
import { noSigners } from "../../src/authz/Signers.js"
import { submitSignedOp } from "../../src/authz/submit.js"
import { submitForHub } from "../../src/hub/submitForHub.js"
import { revertOp } from "../../src/reconcile/revert.js"
import { agentLayer, gateLayer, liveOp, ourMutations, sign, viewOf } from "../gate/support.js"
import { SEEDS } from "../reconcile/EngineSupport.js"
import { tempDir } from "../state/support.js"
import { Sim, simWithPve } from "../support/sim.js"
import { makeKey, signersFor } from "./support.js"

const key = makeKey()
const signers = signersFor(key)

const tagOf = <A, E extends { readonly _tag: string }, R>(self: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.either(self), Either.match({ onLeft: (e) => e._tag, onRight: () => "submitted" }))

describe("submitSignedOp", () => {
  it.live("a signed set-config runs, its replay is refused (OpReplayed), and revert restores the pre-state", () =>
    Effect.gen(function*() {
      const before = yield* viewOf(100)
      const env = sign(
        key,
        liveOp(100, { kind: "set-config", set: { memory: 4096, description: "hub says" }, delete: ["tags"] })
      )
      const result = yield* submitSignedOp(env)
      expect(result.outcome._tag).toBe("Applied")
      expect(result.opId).toBe(result.op.op_id)
      // memory is outside the reconcile allowlist: a signed op with `config` may still set it.
      expect((yield* viewOf(100)).config["description"]).toBe("hub says")
      expect(yield* tagOf(submitSignedOp(env))).toBe("OpReplayed")
      expect(yield* ourMutations).toHaveLength(1)
      const undone = yield* revertOp(result.opId)
      expect(undone.outcome._tag).toBe("Applied")
      const after = yield* viewOf(100)
      expect(after.config["description"]).toBe(before.config["description"])
      expect(after.config["tags"]).toBe(before.config["tags"])
      expect(after.config["memory"]).toBe(before.config["memory"])
    }).pipe(Effect.provide(gateLayer({ signers }))))

  it.live("the same envelope submitted twice concurrently runs once", () =>
    Effect.gen(function*() {
      const env = sign(key, liveOp(102, { kind: "start" }))
      const tags = yield* Effect.all([tagOf(submitSignedOp(env)), tagOf(submitSignedOp(env))], { concurrency: 2 })
      expect([...tags].sort()).toEqual(["OpReplayed", "submitted"])
      expect((yield* ourMutations).map((m) => m.kind)).toEqual(["start"])
    }).pipe(Effect.provide(gateLayer({ signers }))))

  it.live("no signers → refused (NoSigners), nothing applied", () =>
    Effect.gen(function*() {
      const env = sign(key, liveOp(102, { kind: "start" }))
      expect(yield* tagOf(submitSignedOp(env))).toBe("NoSigners")
      const summary = yield* submitForHub(env)
      expect(summary.result).toBe("refused")
      expect(summary.error_tag).toBe("NoSigners")
      expect(yield* ourMutations).toHaveLength(0)
    }).pipe(Effect.provide(gateLayer({ signers: noSigners("no signers configured") }))))

  it.live("an unknown vmid is refused before admission (SubmitGuestNotFound)", () =>
    Effect.gen(function*() {
      expect(yield* tagOf(submitSignedOp(sign(key, liveOp(999, { kind: "start" }))))).toBe("SubmitGuestNotFound")
    }).pipe(Effect.provide(gateLayer({ signers }))))

  it.live("an irreversible op (snapshot delete) runs for a signer with `irreversible`, is refused without it", () =>
    Effect.gen(function*() {
      const made = yield* submitSignedOp(sign(key, liveOp(101, { kind: "snapshot-create", name: "keep" })))
      expect(made.outcome._tag).toBe("Applied")
      const del = yield* submitSignedOp(sign(key, liveOp(101, { kind: "snapshot-delete", name: "keep" })))
      expect(del.outcome._tag).toBe("Applied")
      expect(Object.keys((yield* viewOf(101)).snapshots)).not.toContain("keep")
    }).pipe(Effect.provide(gateLayer({ signers }))))

  it.live("without the irreversible capability a rollback is refused (CapabilityMissing), nothing applied", () =>
    Effect.gen(function*() {
      const env = sign(key, liveOp(100, { kind: "snapshot-rollback", name: "snap1" }))
      expect(yield* tagOf(submitSignedOp(env))).toBe("CapabilityMissing")
      expect(yield* ourMutations).toHaveLength(0)
    }).pipe(Effect.provide(gateLayer({ signers: signersFor(key, ["power", "config", "snapshot"]) }))))

  it.live("with safetySnapshot a signed rollback first takes a safety snapshot, and revert rolls back to it", () =>
    Effect.gen(function*() {
      const env = sign(key, liveOp(100, { kind: "snapshot-rollback", name: "snap1" }))
      const result = yield* submitSignedOp(env)
      expect(result.outcome._tag).toBe("Applied")
      expect((yield* ourMutations).map((m) => m.kind)).toEqual(["snapshot-create", "snapshot-rollback"])
      const undone = yield* revertOp(result.opId)
      expect(undone.outcome._tag).toBe("Applied")
      expect((yield* ourMutations).map((m) => m.kind)).toEqual([
        "snapshot-create",
        "snapshot-rollback",
        "snapshot-rollback"
      ])
    }).pipe(Effect.provide(gateLayer({
      signers,
      policy: { safetySnapshot: true },
      guests: SEEDS.map((g) => (g.vmid === 100 ? { ...g, snapshots: [{ name: "snap1" }] } : g))
    }))))

  it.live("a precondition digest that no longer matches is a Conflict, nothing sent", () =>
    Effect.gen(function*() {
      const env = sign(key, liveOp(102, { kind: "start" }, { precondition: { digest: "0".repeat(40) } }))
      const result = yield* submitSignedOp(env)
      expect(result.outcome._tag).toBe("Conflict")
      expect(yield* ourMutations).toHaveLength(0)
    }).pipe(Effect.provide(gateLayer({ signers }))))

  it.scopedLive("ops survive a restart without replay: new layers over the same state file refuse the envelope", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const dbFile = path.join(dir, "state.db")
      const env = sign(key, liveOp(102, { kind: "start" }))
      const sim = yield* Sim
      const first = yield* Effect.scoped(Effect.provide(submitSignedOp(env), agentLayer({ signers, dbFile })))
      expect(first.outcome._tag).toBe("Applied")
      const again = yield* Effect.scoped(Effect.provide(tagOf(submitSignedOp(env)), agentLayer({ signers, dbFile })))
      expect(again).toBe("OpReplayed")
      expect(sim.cluster.mutations().filter((m) => m.kind === "start")).toHaveLength(1)
    }).pipe(Effect.provide(simWithPve({ guests: SEEDS }))))

  it.scopedLive("an op for a guest on another node is refused before admission, naming the node; its op id stays unspent", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const dbFile = path.join(dir, "state.db")
      const sim = yield* Sim
      const env = sign(key, liveOp(102, { kind: "start" }))
      // This agent talks to pve1's listener, so it owns pve1; guest 102 lives on pve2.
      const refused = yield* Effect.scoped(
        Effect.provide(Effect.flip(submitSignedOp(env)), agentLayer({ signers, dbFile }))
      )
      expect(refused._tag).toBe("SubmitGuestElsewhere")
      expect(refused.message).toContain("guest 102 is on node pve2, and this agent manages node pve1 only")
      expect(sim.cluster.mutations()).toEqual([])
      // Unspent: once the guest lives on this agent's node, the same envelope runs.
      expect(sim.cluster.beginMigration(102, "pve1")._tag).toBe("Right")
      expect(sim.cluster.finishMigration(102)._tag).toBe("Right")
      const later = yield* Effect.scoped(Effect.provide(submitSignedOp(env), agentLayer({ signers, dbFile })))
      expect(later.outcome._tag).toBe("Applied")
    }).pipe(Effect.provide(simWithPve({
      nodes: ["pve1", "pve2"],
      guests: SEEDS.map((g) => (g.vmid === 102 ? { ...g, node: "pve2" } : g))
    }))))
})
