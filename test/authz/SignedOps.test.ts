import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, TestClock } from "effect"
import { SignedOps, type SignedOpsOptions } from "../../src/authz/SignedOps.js"
import { noSigners } from "../../src/authz/Signers.js"
import { NonceStore } from "../../src/state/NonceStore.js"
import { StateStore } from "../../src/state/StateStore.js"
import { AGENT, envelopeFor, envelopeJson, makeKey, NOW, opFor, signersFor } from "./support.js"

const key = makeKey()
const layer = (options: Partial<SignedOpsOptions> = {}, capacity?: number) =>
  SignedOps.layer({ agentId: AGENT, signers: signersFor(key), ...options }).pipe(
    Layer.provideMerge(NonceStore.layer(capacity === undefined ? {} : { capacity })),
    Layer.provide(StateStore.layerMemory)
  )

const tagOf = <A, E extends { readonly _tag: string }>(self: Effect.Effect<A, E>) =>
  Effect.map(Effect.either(self), Either.match({ onLeft: (e) => e._tag, onRight: () => "admitted" }))

describe("SignedOps.check", () => {
  it.scoped("verifies, admits and answers the op for the gate; a replay is refused", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const ops = yield* SignedOps
      const env = envelopeJson(key)
      const admitted = yield* ops.check(env)
      expect(admitted.op.op_id).toBe("op-0001")
      expect(admitted.keyid).toBe(key.keyid)
      expect(yield* tagOf(ops.check(env))).toBe("OpReplayed")
    }).pipe(Effect.provide(layer())))

  it.scoped("seq rollback through the whole path is SeqNotIncreasing", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const ops = yield* SignedOps
      yield* ops.check(envelopeFor(key, opFor({ op_id: "op-b", seq: 10 })))
      expect(yield* tagOf(ops.check(envelopeFor(key, opFor({ op_id: "op-a", seq: 9 }))))).toBe("SeqNotIncreasing")
    }).pipe(Effect.provide(layer())))

  it.scoped("store full through the whole path is NonceStoreFull", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const ops = yield* SignedOps
      yield* ops.check(envelopeFor(key, opFor({ op_id: "op-1", seq: 1 })))
      expect(yield* tagOf(ops.check(envelopeFor(key, opFor({ op_id: "op-2", seq: 2 }))))).toBe("NonceStoreFull")
    }).pipe(Effect.provide(layer({}, 1))))

  it.scoped("the same envelope submitted twice concurrently is admitted exactly once", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const ops = yield* SignedOps
      const env = envelopeJson(key)
      const results = yield* Effect.all([tagOf(ops.check(env)), tagOf(ops.check(env))], { concurrency: 2 })
      expect([...results].sort()).toEqual(["OpReplayed", "admitted"])
    }).pipe(Effect.provide(layer())))

  it.scoped("a refused op spends nothing: its id can be admitted once it verifies", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const ops = yield* SignedOps
      const early = envelopeFor(key, opFor({ nbf: NOW + 120 }))
      expect(yield* tagOf(ops.check(early))).toBe("OpNotYetValid")
      yield* TestClock.adjust("60 seconds")
      expect(yield* tagOf(ops.check(early))).toBe("admitted")
    }).pipe(Effect.provide(layer())))

  it.scoped("verifyOnly does not spend the op id", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const ops = yield* SignedOps
      const env = envelopeFor(key)
      yield* ops.verifyOnly(env)
      yield* ops.verifyOnly(env)
      expect(yield* tagOf(ops.check(env))).toBe("admitted")
    }).pipe(Effect.provide(layer())))

  it.scoped("no signers: refused with that reason, and the service keeps answering", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const ops = yield* SignedOps
      const error = yield* Effect.flip(ops.check(envelopeFor(key)))
      expect(error._tag).toBe("NoSigners")
      expect(error.message).toContain("no signers configured")
      expect(yield* tagOf(ops.check(envelopeFor(key, opFor({ op_id: "op-2" }))))).toBe("NoSigners")
    }).pipe(Effect.provide(layer({ signers: noSigners() }))))
})
