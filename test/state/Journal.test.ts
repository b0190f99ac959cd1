import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck, Layer, Option, Schema } from "effect"
import * as path from "node:path"
import { UpidString } from "../../src/domain/Upid.js"
import { makeVmid } from "../../src/domain/Vmid.js"
import { Journal } from "../../src/state/Journal.js"
import { canonicalJson, JsonValue, paramsHash } from "../../src/state/OpRecord.js"
import { StateStore } from "../../src/state/StateStore.js"
import { intentFor, tempDir } from "./support.js"

const upid = Schema.decodeSync(UpidString)("UPID:pve1:00001234:00ABCDEF:65F00000:qmstart:100:felhom@pve!agent:")
const memory = Journal.layer.pipe(Layer.provideMerge(StateStore.layerMemory))
const fileLayer = (filename: string) => Journal.layer.pipe(Layer.provideMerge(StateStore.layer({ filename })))

describe("Journal", () => {
  it.effect("resolve: an exact id, any unique prefix (like git), an ambiguous prefix naming its candidates", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      for (const opId of ["5da228ad8dbc11", "5da2ffee0000", "04829f777b29", "revert:04829f777b29"]) {
        yield* journal.intent(intentFor({ opId }))
      }
      expect((yield* journal.resolve("04829f777b29")).opId).toBe("04829f777b29")
      expect((yield* journal.resolve("0482")).opId).toBe("04829f777b29")
      expect((yield* journal.resolve("5da228")).opId).toBe("5da228ad8dbc11")
      expect((yield* journal.resolve("revert:")).opId).toBe("revert:04829f777b29")
      const ambiguous = yield* Effect.flip(journal.resolve("5da2"))
      expect(ambiguous._tag).toBe("JournalOpAmbiguous")
      expect(ambiguous.message).toBe("op id 5da2 is ambiguous; it starts 2 ops: 5da228ad8dbc11, 5da2ffee0000")
      const missing = yield* Effect.flip(journal.resolve("ffff"))
      expect(missing._tag).toBe("JournalOpNotFound")
      // % and _ are not wildcards here.
      expect((yield* Effect.flip(journal.resolve("5da2_"))).message).toBe("op 5da2_ is not in the journal")
    }).pipe(Effect.provide(memory)))

  it.effect("intent → recordUpid → finish appends every phase to the history", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      const created = yield* journal.intent(intentFor())
      expect(created.phase).toBe("intent")
      expect(created.paramsHash).toBe(paramsHash({ timeout: 30 }))
      const inFlight = yield* journal.recordUpid("op-1", upid)
      expect(inFlight.phase).toBe("in-flight")
      expect(inFlight.upid).toBe(upid)
      const done = yield* journal.finish("op-1", { message: "task finished", exitstatus: "OK" })
      expect(done.phase).toBe("done")
      expect(done.detail).toEqual({ message: "task finished", exitstatus: "OK" })
      expect(done.upid).toBe(upid)
      const history = yield* journal.history("op-1")
      expect(history.map((h) => h.phase)).toEqual(["intent", "in-flight", "done"])
      expect(history[1]?.upid).toBe(upid)
      expect(history[2]?.detail?.exitstatus).toBe("OK")
      expect(yield* journal.unfinished).toEqual([])
    }).pipe(Effect.provide(memory)))

  it.effect("a done op id answers JournalAlreadyApplied carrying the op", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      yield* journal.intent(intentFor())
      yield* journal.finish("op-1", { message: "synchronous success" })
      const error = yield* journal.intent(intentFor()).pipe(Effect.flip)
      expect(error._tag).toBe("JournalAlreadyApplied")
      if (error._tag === "JournalAlreadyApplied") expect(error.op.phase).toBe("done")
      expect((yield* journal.history("op-1")).length).toBe(2)
    }).pipe(Effect.provide(memory)))

  it.effect("the same op id with different params is JournalOpConflict", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      yield* journal.intent(intentFor())
      const error = yield* journal.intent(intentFor({ params: { timeout: 60 } })).pipe(Effect.flip)
      expect(error._tag).toBe("JournalOpConflict")
      const otherGuest = yield* journal.intent(intentFor({ vmid: 101 })).pipe(Effect.flip)
      expect(otherGuest._tag).toBe("JournalOpConflict")
    }).pipe(Effect.provide(memory)))

  it.effect("an unfinished op id with the same params is returned, not duplicated", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      yield* journal.intent(intentFor())
      yield* journal.recordUpid("op-1", upid)
      // Same params in another key order: the same op.
      const again = yield* journal.intent(intentFor({ params: { timeout: 30 }, preState: { other: true } }))
      expect(again.phase).toBe("in-flight")
      expect(again.preState).toEqual({ status: "stopped" })
      expect((yield* journal.list()).length).toBe(1)
      expect((yield* journal.history("op-1")).length).toBe(2)
    }).pipe(Effect.provide(memory)))

  it.effect("a failed op planned again is reopened as a new attempt", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      yield* journal.intent(intentFor())
      yield* journal.fail("op-1", { message: "not applied" })
      const again = yield* journal.intent(intentFor())
      expect(again.phase).toBe("intent")
      expect(again.attempt).toBe(2)
      expect(again.upid).toBeNull()
      expect((yield* journal.history("op-1")).map((h) => h.phase)).toEqual(["intent", "failed", "intent"])
    }).pipe(Effect.provide(memory)))

  it.effect("an op flagged for the operator is not run again", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      yield* journal.intent(intentFor())
      yield* journal.flag("op-1", { message: "several tasks", upids: ["a", "b"] })
      const error = yield* journal.intent(intentFor()).pipe(Effect.flip)
      expect(error._tag).toBe("JournalNeedsOperator")
    }).pipe(Effect.provide(memory)))

  it.effect("illegal transitions and unknown op ids are typed errors", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      yield* journal.intent(intentFor())
      yield* journal.finish("op-1", { message: "ok" })
      const bad = yield* journal.fail("op-1", { message: "late" }).pipe(Effect.flip)
      expect(bad._tag).toBe("JournalBadTransition")
      const missing = yield* journal.recordUpid("nope", upid).pipe(Effect.flip)
      expect(missing._tag).toBe("JournalOpNotFound")
      expect(yield* journal.get("nope")).toEqual(Option.none())
    }).pipe(Effect.provide(memory)))

  it.effect("list filters by phase and vmid, newest first; unfinished lists intent and in-flight", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      yield* journal.intent(intentFor({ opId: "a", vmid: 100 }))
      yield* journal.intent(intentFor({ opId: "b", vmid: 101 }))
      yield* journal.intent(intentFor({ opId: "c", vmid: 101 }))
      yield* journal.recordUpid("b", upid)
      yield* journal.finish("c", { message: "ok" })
      expect((yield* journal.list()).map((o) => o.opId)).toEqual(["c", "b", "a"])
      expect((yield* journal.list({ vmid: 101 })).map((o) => o.opId)).toEqual(["c", "b"])
      expect((yield* journal.list({ phase: "done" })).map((o) => o.opId)).toEqual(["c"])
      expect((yield* journal.list({ limit: 1 })).map((o) => o.opId)).toEqual(["c"])
      expect((yield* journal.unfinished).map((o) => o.opId)).toEqual(["a", "b"])
    }).pipe(Effect.provide(memory)))

  it.effect("countByPhase counts intent, in-flight and needs-operator ops, 0 for a phase with none", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      expect(yield* journal.countByPhase).toEqual({ "intent": 0, "in-flight": 0, "needs-operator": 0 })
      for (const opId of ["a", "b", "c", "d", "e", "f"]) yield* journal.intent(intentFor({ opId }))
      yield* journal.recordUpid("b", upid)
      yield* journal.finish("c", { message: "ok" })
      yield* journal.fail("d", { message: "refused" })
      yield* journal.flag("e", { message: "cannot tell" })
      yield* journal.flag("f", { message: "cannot tell" })
      // Done and failed ops are not counted: they need nobody.
      expect(yield* journal.countByPhase).toEqual({ "intent": 1, "in-flight": 1, "needs-operator": 2 })
    }).pipe(Effect.provide(memory)))

  it.effect("a token user carrying a secret (`=`) is refused and never echoed", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      const secret = "felhom@pve!agent=3f1c2a9e-0000-4000-8000-123456789abc"
      const error = yield* journal.intent(intentFor({ tokenUser: secret })).pipe(Effect.flip)
      expect(error._tag).toBe("JournalInvalidOp")
      expect(error.message).not.toContain("3f1c2a9e")
      expect(JSON.stringify(error)).not.toContain("3f1c2a9e")
      const header = yield* journal.intent(intentFor({ tokenUser: "PVEAPIToken=felhom@pve!agent" })).pipe(Effect.flip)
      expect(header._tag).toBe("JournalInvalidOp")
      expect(yield* journal.list()).toEqual([])
    }).pipe(Effect.provide(memory)))

  it.scoped("a verb's write is committed when it returns: a second connection sees it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "state.db")
      const writer = yield* Layer.build(fileLayer(filename))
      const reader = yield* Layer.build(fileLayer(filename))
      const write = yield* Effect.provide(Journal, writer)
      const read = yield* Effect.provide(Journal, reader)
      yield* write.intent(intentFor())
      expect((yield* read.get("op-1")).pipe(Option.map((o) => o.phase))).toEqual(Option.some("intent"))
      yield* write.recordUpid("op-1", upid)
      expect((yield* read.unfinished).map((o) => o.upid)).toEqual([upid])
    }))

  it.scoped("ops survive closing and reopening the database file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const layer = fileLayer(path.join(dir, "state.db"))
      yield* Effect.provide(
        Effect.gen(function*() {
          const journal = yield* Journal
          yield* journal.intent(intentFor())
          yield* journal.recordUpid("op-1", upid)
          yield* journal.intent(intentFor({ opId: "op-2", action: "stop" }))
          yield* journal.finish("op-2", { message: "ok" })
        }),
        layer
      )
      const [unfinished, done, history] = yield* Effect.provide(
        Effect.gen(function*() {
          const journal = yield* Journal
          return [
            yield* journal.unfinished,
            yield* journal.intent(intentFor({ opId: "op-2", action: "stop" })).pipe(Effect.flip),
            yield* journal.history("op-1")
          ] as const
        }),
        layer
      )
      expect(unfinished.map((o) => [o.opId, o.phase, o.upid, o.vmid, o.tokenUser])).toEqual([
        ["op-1", "in-flight", upid, makeVmid(100), "felhom@pve!agent"]
      ])
      expect(done._tag).toBe("JournalAlreadyApplied")
      expect(history.map((h) => h.phase)).toEqual(["intent", "in-flight"])
    }))
})

// Through JSON once (as params arrive) and decoded, so the values are what intent would accept.
const jsonValue: FastCheck.Arbitrary<JsonValue> = FastCheck.jsonValue({ maxDepth: 4 }).map((v) =>
  Schema.decodeUnknownSync(JsonValue)(JSON.parse(JSON.stringify(v)))
)

/** The same value with every object's keys inserted in reverse order. */
const reorder = (value: JsonValue): JsonValue => {
  if (value === null || typeof value !== "object") return value
  if (Array.isArray(value)) return value.map((v: JsonValue) => reorder(v))
  const out: Record<string, JsonValue> = {}
  for (const [k, v] of Object.entries(value).reverse()) out[k] = reorder(v)
  return out
}

describe("params hash", () => {
  it.prop("is stable under key reordering at every depth", [jsonValue], ([value]) => {
    expect(paramsHash(reorder(value))).toBe(paramsHash(value))
    expect(canonicalJson(reorder(value))).toBe(canonicalJson(value))
  })

  it("sorts keys and distinguishes values", () => {
    expect(canonicalJson({ b: 1, a: [{ d: null, c: "x" }] })).toBe(`{"a":[{"c":"x","d":null}],"b":1}`)
    expect(paramsHash({ a: 1 })).not.toBe(paramsHash({ a: "1" }))
  })
})
