/** `revert`: every inverse restores the pre-state in the simulator; refusals for what cannot be reverted. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck, Option, Schema } from "effect"
import { SetConfig, SnapshotCreate, SnapshotDelete, Start } from "../../src/domain/Action.js"
import { GuestRef } from "../../src/domain/Guest.js"
import { Pve } from "../../src/pve/Pve.js"
import { Engine } from "../../src/reconcile/Engine.js"
import { normalizeValue } from "../../src/reconcile/normalize.js"
import { revertOp, revertOpId } from "../../src/reconcile/revert.js"
import { Journal } from "../../src/state/Journal.js"
import { Sim } from "../support/sim.js"
import { gateLayer, viewOf } from "./support.js"

const ref = (vmid: number, type: "qemu" | "lxc" = "qemu") =>
  Schema.decodeUnknownSync(GuestRef)({ vmid, node: "pve1", type })

const configOf = (guest: GuestRef) => Effect.flatMap(Pve, (pve) => pve.config(guest))

/** The config as the normalizers see it (PVE's read-back quirks folded away). */
const normalized = (guest: GuestRef) =>
  Effect.map(
    configOf(guest),
    (c) =>
      Object.fromEntries(
        Object.entries(c.values).map(([k, v]) => [k, normalizeValue(guest.type, k, v)]).filter(([, v]) =>
          v !== undefined
        )
      )
  )

const reasonOf = (e: { readonly _tag: string; readonly reason?: string }) =>
  e._tag === "RevertRefused" ? e.reason : e._tag

describe("revert", () => {
  it.live("Start → revert → stopped; a second revert is refused as already reverted", () =>
    Effect.gen(function*() {
      const engine = yield* Engine
      const started = yield* engine.run(Start.make({ guest: ref(102) }), { revision: "r", opId: "op-start" })
      expect(started.outcome._tag).toBe("Applied")
      expect((yield* viewOf(102)).status).toBe("running")
      const undone = yield* revertOp("op-start")
      expect(undone.opId).toBe(revertOpId("op-start"))
      expect(undone.outcome._tag).toBe("Applied")
      expect((yield* viewOf(102)).status).toBe("stopped")
      const again = yield* Effect.flip(revertOp("op-start"))
      expect(reasonOf(again)).toBe("already-reverted")
    }).pipe(Effect.provide(gateLayer())))

  it.live("snapshot-create → revert → the snapshot is gone", () =>
    Effect.gen(function*() {
      const engine = yield* Engine
      const made = yield* engine.run(SnapshotCreate.make({ guest: ref(101, "lxc"), name: "before-upgrade" }), {
        revision: undefined,
        opId: "op-snap",
        origin: "signed",
        kind: "ordered"
      })
      expect(made.outcome._tag).toBe("Applied")
      expect(Object.keys((yield* viewOf(101)).snapshots)).toContain("before-upgrade")
      const undone = yield* revertOp("op-snap")
      expect(undone.outcome._tag).toBe("Applied")
      expect(Object.keys((yield* viewOf(101)).snapshots)).not.toContain("before-upgrade")
    }).pipe(Effect.provide(gateLayer())))

  it.live("refuses an unknown op, an op not done, an irreversible op, and a config op whose keys changed since", () =>
    Effect.gen(function*() {
      const engine = yield* Engine
      const journal = yield* Journal
      expect(reasonOf(yield* Effect.flip(revertOp("nope")))).toBe("not-found")

      // Not done: a Conflict (stale digest) is journaled failed.
      const stale = yield* engine.run(
        SetConfig.make({ guest: ref(100), set: { description: "x" }, delete: [], digest: "0".repeat(40) }),
        { revision: "r", opId: "op-stale" }
      )
      expect(stale.outcome._tag).toBe("Conflict")
      expect(reasonOf(yield* Effect.flip(revertOp("op-stale")))).toBe("not-done")

      // Irreversible: a signed snapshot delete has no inverse.
      yield* engine.run(SnapshotCreate.make({ guest: ref(100), name: "s1" }), {
        revision: undefined,
        opId: "op-s1",
        origin: "signed",
        kind: "ordered"
      })
      const deleted = yield* engine.run(SnapshotDelete.make({ guest: ref(100), name: "s1" }), {
        revision: undefined,
        opId: "op-del",
        origin: "signed",
        kind: "ordered"
      })
      expect(deleted.outcome._tag).toBe("Applied")
      expect(reasonOf(yield* Effect.flip(revertOp("op-del")))).toBe("no-inverse")

      // Conflict: someone else changed the key after our op; the revert never clobbers it.
      const digest = (yield* configOf(ref(100))).digest
      yield* engine.run(SetConfig.make({ guest: ref(100), set: { description: "ours" }, delete: [], digest }), {
        revision: "r",
        opId: "op-desc"
      })
      const sim = yield* Sim
      yield* Effect.orDie(sim.cluster.edit(100, { set: { description: "theirs" } }))
      const conflict = yield* Effect.flip(revertOp("op-desc"))
      expect(conflict._tag).toBe("RevertConflict")
      expect((yield* viewOf(100)).config["description"]).toBe("theirs")
      expect(Option.isNone(yield* journal.get(revertOpId("op-desc")))).toBe(true)
    }).pipe(Effect.provide(gateLayer())))

  const KEYS = ["description", "tags", "onboot", "name", "protection", "startup", "memory", "cores"] as const
  const valueArb: Record<(typeof KEYS)[number], FastCheck.Arbitrary<string | number>> = {
    description: FastCheck.stringMatching(/^[a-z][a-z0-9 ]{0,20}$/),
    tags: FastCheck.array(FastCheck.stringMatching(/^[a-z][a-z0-9]{0,6}$/), { minLength: 1, maxLength: 3 }).map((t) =>
      t.join(";")
    ),
    onboot: FastCheck.constantFrom(0, 1),
    name: FastCheck.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/),
    protection: FastCheck.constantFrom(0, 1),
    startup: FastCheck.constantFrom("order=1", "order=2,up=10", "up=5"),
    memory: FastCheck.constantFrom(512, 1024, 4096),
    cores: FastCheck.integer({ min: 1, max: 8 })
  }
  const changeArb = FastCheck.record({
    set: FastCheck.subarray([...KEYS]).chain((keys) =>
      FastCheck.tuple(...keys.map((k) => valueArb[k].map((v) => [k, v] as const))).map((pairs) =>
        Object.fromEntries(pairs)
      )
    ),
    del: FastCheck.subarray(["description", "tags", "onboot", "protection", "startup"])
  }).map(({ set, del }) => ({ set, delete: del.filter((k) => !Object.hasOwn(set, k)) }))
    .filter((c) => Object.keys(c.set).length + c.delete.length > 0)

  it.live(
    "every config inverse restores the pre-state (20 random changes on allowlisted keys + memory/cores, qemu and lxc)",
    () =>
      Effect.gen(function*() {
        const engine = yield* Engine
        const samples = FastCheck.sample(changeArb, { numRuns: 20, seed: 4711 })
        let n = 0
        for (const change of samples) {
          n += 1
          // lxc has no `name` (hostname instead): those samples run on the VM only.
          const guest = n % 2 === 0 && !Object.hasOwn(change.set, "name") ? ref(103, "lxc") : ref(102)
          const before = yield* normalized(guest)
          const digest = (yield* configOf(guest)).digest
          const opId = `op-prop-${n}`
          const applied = yield* engine.run(SetConfig.make({ guest, set: change.set, delete: change.delete, digest }), {
            revision: undefined,
            opId
          })
          expect(applied.outcome._tag, JSON.stringify(change)).toBe("Applied")
          const undone = yield* revertOp(opId)
          expect(undone.outcome._tag, JSON.stringify(change)).toBe("Applied")
          expect(yield* normalized(guest), JSON.stringify(change)).toEqual(before)
        }
      }).pipe(Effect.provide(gateLayer({ policy: { allowKeys: ["memory", "cores"] } }))),
    120_000
  )
})
