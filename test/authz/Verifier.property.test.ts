import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { decodeBase64Strict, encodeBase64 } from "../../src/authz/Envelope.js"
import { encodeOpPayload } from "../../src/authz/OpPayload.js"
import { verifyAt, type VerifyOptions } from "../../src/authz/Verifier.js"
import { AGENT, envelopeFor, makeKey, NOW, opFor, signersFor } from "./support.js"

const key = makeKey()
const options: VerifyOptions = { agentId: AGENT, signers: signersFor(key) }
const op = opFor({ action: { kind: "set-config", set: { description: "x y", memory: 2048 }, delete: ["tags"] } })
const envelope = envelopeFor(key, op)
const original = Buffer.from(JSON.stringify(envelope))
const payloadBytes = Buffer.from(encodeOpPayload(op))

type Mutation =
  | { readonly kind: "flip"; readonly at: number; readonly bit: number }
  | { readonly kind: "insert"; readonly at: number; readonly byte: number }
  | { readonly kind: "delete"; readonly at: number }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() })
)

const mutate = (bytes: Uint8Array, m: Mutation): Buffer => {
  const b = Buffer.from(bytes)
  if (m.kind === "insert") {
    const at = m.at % (b.length + 1)
    return Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at)])
  }
  const at = m.at % b.length
  if (m.kind === "delete") return Buffer.concat([b.subarray(0, at), b.subarray(at + 1)])
  b[at] = (b[at] ?? 0) ^ (1 << m.bit)
  return b
}

/** Refused, or (a semantically neutral change like JSON whitespace) the very same op and bytes. */
const neverVerifiesSomethingElse = (input: unknown): void => {
  const result = verifyAt(input, options, NOW)
  if (Either.isRight(result)) {
    expect(Buffer.from(result.right.payloadBytes).equals(payloadBytes)).toBe(true)
    expect(result.right.op).toEqual(op)
  }
}

describe("Verifier under random byte changes", () => {
  it("the unchanged envelope verifies (the property below is not vacuous)", () => {
    expect(Either.isRight(verifyAt(original, options, NOW))).toBe(true)
  })

  it.prop("a changed serialized envelope never verifies to anything else", [
    fc.array(mutation, { minLength: 1, maxLength: 3 })
  ], ([ms]) => {
    neverVerifiesSomethingElse(ms.reduce<Buffer>((b, m) => mutate(b, m), original))
  }, { fastCheck: { numRuns: 2000 } })

  it.prop("a changed payload byte under the old signature never verifies", [mutation], ([m]) => {
    const changed = mutate(payloadBytes, m)
    const result = verifyAt({ ...envelope, payload: encodeBase64(changed) }, options, NOW)
    expect(Either.isLeft(result)).toBe(true)
  }, { fastCheck: { numRuns: 1000 } })

  it.prop("a changed signature byte never verifies", [mutation], ([m]) => {
    const sig = Either.getOrThrow(decodeBase64Strict(envelope.signatures[0]?.sig ?? ""))
    const changed = encodeBase64(mutate(sig, m))
    const result = verifyAt({ ...envelope, signatures: [{ keyid: key.keyid, sig: changed }] }, options, NOW)
    expect(Either.isLeft(result)).toBe(true)
  }, { fastCheck: { numRuns: 1000 } })

  it.prop("a changed payloadType never verifies", [mutation], ([m]) => {
    const type = mutate(Buffer.from(envelope.payloadType), m).toString("latin1")
    const result = verifyAt({ ...envelope, payloadType: type }, options, NOW)
    expect(Either.isLeft(result)).toBe(true)
  }, { fastCheck: { numRuns: 500 } })

  it("inserted JSON whitespace is neutral and still yields the same verified bytes", () => {
    const spaced = Buffer.from(JSON.stringify(envelope, null, 2))
    const result = verifyAt(spaced, options, NOW)
    expect(Either.isRight(result)).toBe(true)
    neverVerifiesSomethingElse(spaced)
  })
})
