import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, TestClock } from "effect"
import * as path from "node:path"
import { type AdmitInput, NonceStore } from "../../src/state/NonceStore.js"
import { StateStore } from "../../src/state/StateStore.js"
import { mode, tempDir } from "./support.js"

const NOW = 1_750_000_000
const memory = (options?: { capacity?: number; skew?: number }) =>
  NonceStore.layer(options).pipe(Layer.provideMerge(StateStore.layerMemory))

const input = (overrides: Partial<AdmitInput> = {}): AdmitInput => ({
  opId: "op-1",
  seq: 1,
  agent: "agent-pve1",
  expiresAt: NOW + 300,
  ...overrides
})

const at = (seconds: number) => TestClock.setTime(seconds * 1000)

describe("NonceStore", () => {
  it.scoped("admits a new op id and raises the seq high-water mark", () =>
    Effect.gen(function*() {
      yield* at(NOW)
      const nonces = yield* NonceStore
      const admitted = yield* nonces.admit(input({ seq: 7 }))
      expect(admitted).toMatchObject({ opId: "op-1", seq: 7, keepUntil: NOW + 360, admittedAt: NOW * 1000 })
      expect(yield* nonces.highWater("agent-pve1")).toBe(7)
      expect(yield* nonces.highWater("other")).toBe(0)
      expect(yield* nonces.fill).toEqual({ entries: 1, capacity: 100_000 })
    }).pipe(Effect.provide(memory())))

  it.scoped("replayed op id is OpReplayed, even with a higher seq", () =>
    Effect.gen(function*() {
      yield* at(NOW)
      const nonces = yield* NonceStore
      yield* nonces.admit(input())
      const error = yield* Effect.flip(nonces.admit(input({ seq: 2 })))
      expect(error._tag).toBe("OpReplayed")
      expect(yield* nonces.highWater("agent-pve1")).toBe(1)
    }).pipe(Effect.provide(memory())))

  it.scoped("seq rollback: a seq not above the high-water mark is SeqNotIncreasing and not recorded", () =>
    Effect.gen(function*() {
      yield* at(NOW)
      const nonces = yield* NonceStore
      yield* nonces.admit(input({ opId: "op-5", seq: 5 }))
      const equal = yield* Effect.flip(nonces.admit(input({ opId: "op-a", seq: 5 })))
      const lower = yield* Effect.flip(nonces.admit(input({ opId: "op-b", seq: 4 })))
      expect([equal._tag, lower._tag]).toEqual(["SeqNotIncreasing", "SeqNotIncreasing"])
      expect(lower.message).toContain("high-water mark 5")
      expect(yield* nonces.fill).toMatchObject({ entries: 1 })
      // Sequences are per agent.
      yield* nonces.admit(input({ opId: "op-c", seq: 1, agent: "agent-pve2" }))
    }).pipe(Effect.provide(memory())))

  it.scoped("store full: with capacity unexpired entries it fails closed and evicts nothing", () =>
    Effect.gen(function*() {
      yield* at(NOW)
      const nonces = yield* NonceStore
      yield* nonces.admit(input({ opId: "op-1", seq: 1 }))
      yield* nonces.admit(input({ opId: "op-2", seq: 2 }))
      const error = yield* Effect.flip(nonces.admit(input({ opId: "op-3", seq: 3 })))
      expect(error._tag).toBe("NonceStoreFull")
      expect(yield* nonces.highWater("agent-pve1")).toBe(2)
      // The kept entries still refuse their replay.
      expect((yield* Effect.flip(nonces.admit(input({ opId: "op-1", seq: 9 }))))._tag).toBe("OpReplayed")
    }).pipe(Effect.provide(memory({ capacity: 2 }))))

  it.scoped("entries are kept until expiry + skew, then purged, freeing room", () =>
    Effect.gen(function*() {
      yield* at(NOW)
      const nonces = yield* NonceStore
      yield* nonces.admit(input({ opId: "op-1", seq: 1, expiresAt: NOW + 10 }))
      yield* at(NOW + 10 + 60)
      expect(yield* nonces.purge).toBe(0)
      expect((yield* Effect.flip(nonces.admit(input({ opId: "op-2", seq: 2 }))))._tag).toBe("NonceStoreFull")
      yield* at(NOW + 10 + 61)
      // admit purges first, so the expired entry makes room.
      yield* nonces.admit(input({ opId: "op-2", seq: 2, expiresAt: NOW + 400 }))
      expect(yield* nonces.fill).toMatchObject({ entries: 1 })
      // The high-water mark outlives purged nonces: an old op with a fresh id still loses.
      expect((yield* Effect.flip(nonces.admit(input({ opId: "op-x", seq: 1 }))))._tag).toBe("SeqNotIncreasing")
    }).pipe(Effect.provide(memory({ capacity: 1, skew: 60 }))))

  it.scoped("the same op admitted twice concurrently: exactly one is admitted", () =>
    Effect.gen(function*() {
      yield* at(NOW)
      const nonces = yield* NonceStore
      const results = yield* Effect.all([nonces.admit(input()), nonces.admit(input())].map(Effect.either), {
        concurrency: "unbounded"
      })
      expect(results.filter(Either.isRight)).toHaveLength(1)
      const refused = results.filter(Either.isLeft).map((r) => r.left._tag)
      expect(refused).toEqual(["OpReplayed"])
    }).pipe(Effect.provide(memory())))

  it.scoped("many concurrent admits of distinct ops with one seq: exactly one wins", () =>
    Effect.gen(function*() {
      yield* at(NOW)
      const nonces = yield* NonceStore
      const attempts = Array.from({ length: 20 }, (_, i) =>
        Effect.either(nonces.admit(input({ opId: `op-${i}`, seq: 3 }))))
      const results = yield* Effect.all(attempts, { concurrency: "unbounded" })
      expect(results.filter(Either.isRight)).toHaveLength(1)
      expect(yield* nonces.fill).toMatchObject({ entries: 1 })
    }).pipe(Effect.provide(memory())))

  it.scoped("admits survive a close and reopen of the database file: no replay after restart", () =>
    Effect.gen(function*() {
      yield* at(NOW)
      const dir = yield* tempDir
      const filename = path.join(dir, "state.db")
      const fileLayer = () => NonceStore.layer().pipe(Layer.provide(StateStore.layer({ filename })))
      yield* Effect.scoped(Effect.provide(Effect.flatMap(NonceStore, (n) => n.admit(input({ seq: 4 }))), fileLayer()))
      const [replay, rollback] = yield* Effect.provide(
        Effect.flatMap(
          NonceStore,
          (n) =>
            Effect.all([Effect.flip(n.admit(input({ seq: 5 }))), Effect.flip(n.admit(input({ opId: "op-2", seq: 4 })))])
        ),
        fileLayer()
      )
      expect(replay._tag).toBe("OpReplayed")
      expect(rollback._tag).toBe("SeqNotIncreasing")
      expect(mode(filename)).toBe(0o600)
    }))
})
