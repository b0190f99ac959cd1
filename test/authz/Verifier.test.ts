import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, TestClock } from "effect"
import { encodeBase64, signEnvelope } from "../../src/authz/Envelope.js"
import { encodeOpPayload, OP_PAYLOAD_TYPE } from "../../src/authz/OpPayload.js"
import { noSigners, signersOf } from "../../src/authz/Signers.js"
import { verify, type VerifyOptions } from "../../src/authz/Verifier.js"
import { makeVmid } from "../../src/domain/Vmid.js"
import { AGENT, envelopeFor, keyMaterial, makeKey, NOW, opFor, signersFor } from "./support.js"

const key = makeKey()
const options: VerifyOptions = { agentId: AGENT, signers: signersFor(key) }

/** Runs the verifier at NOW (TestClock) and answers the refusal's tag, or "verified". */
const outcome = (input: unknown, opts: VerifyOptions = options) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(NOW * 1000)
    const result = yield* Effect.either(verify(input, opts))
    return Either.match(result, { onLeft: (e) => e._tag, onRight: () => "verified" })
  })

const refusal = (input: unknown, opts: VerifyOptions = options) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(NOW * 1000)
    return yield* Effect.flip(verify(input, opts))
  })

describe("Verifier", () => {
  it.effect("a valid envelope verifies and answers exactly the signed bytes", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const op = opFor({ action: { kind: "set-config", set: { description: "hi", cores: 2 }, delete: ["tags"] } })
      const verified = yield* verify(JSON.stringify(envelopeFor(key, op)), options)
      expect(verified.op).toEqual(op)
      expect(Buffer.from(verified.payloadBytes).equals(Buffer.from(encodeOpPayload(op)))).toBe(true)
      expect(verified.keyid).toBe(key.keyid)
      expect(verified.verifiedAt).toBe(NOW)
    }))

  it.effect("accepts bytes, text and parsed JSON alike", () =>
    Effect.gen(function*() {
      const env = envelopeFor(key)
      expect(yield* outcome(env)).toBe("verified")
      expect(yield* outcome(JSON.stringify(env))).toBe("verified")
      expect(yield* outcome(new TextEncoder().encode(JSON.stringify(env)))).toBe("verified")
    }))

  it.effect("envelope shape: not JSON, extra fields and non-canonical base64 are EnvelopeMalformed", () =>
    Effect.gen(function*() {
      const env = envelopeFor(key)
      expect(yield* outcome("{not json")).toBe("EnvelopeMalformed")
      expect(yield* outcome({ ...env, extra: 1 })).toBe("EnvelopeMalformed")
      expect(yield* outcome({ ...env, signatures: [] })).toBe("EnvelopeMalformed")
      // Same bytes, different text: whitespace inside base64 and unpadded forms are refused.
      expect(yield* outcome({ ...env, payload: env.payload.replace(/=+$/, "") + "\n" })).toBe("EnvelopeMalformed")
      const sig = env.signatures[0]?.sig ?? ""
      // The last sig char carries 2 padding bits: flipping only those is the same bytes in Node's eyes.
      const lastIdx = sig.length - 3
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
      const v = alphabet.indexOf(sig[lastIdx] ?? "A")
      const sameBytes = sig.slice(0, lastIdx) + alphabet[v ^ 1] + sig.slice(lastIdx + 1)
      expect(yield* outcome({ ...env, signatures: [{ keyid: key.keyid, sig: sameBytes }] })).toBe("EnvelopeMalformed")
      const malformed = yield* refusal({ payloadType: 1, payload: "!!", signatures: "x" })
      expect(malformed.message).toMatch(/payloadType/)
      expect(malformed.message).toMatch(/payload/)
      expect(malformed.message).toMatch(/signatures/)
    }))

  it.effect("tampered payloadType: another type is PayloadTypeUnsupported", () =>
    Effect.gen(function*() {
      const env = envelopeFor(key)
      expect(yield* outcome({ ...env, payloadType: "application/json" })).toBe("PayloadTypeUnsupported")
    }))

  it.effect("type confusion: a payload signed under another type does not verify under ours", () =>
    Effect.gen(function*() {
      const signedAsOther = envelopeFor(key, opFor(), "application/vnd.felhom.other+json")
      expect(yield* outcome({ ...signedAsOther, payloadType: OP_PAYLOAD_TYPE })).toBe("SignatureInvalid")
    }))

  it.effect("unknown key: a keyid no signer has is UnknownSigner, naming it", () =>
    Effect.gen(function*() {
      const stranger = makeKey()
      const error = yield* refusal(envelopeFor(stranger))
      expect(error._tag).toBe("UnknownSigner")
      expect(error.message).toContain(stranger.keyid)
    }))

  it.effect("bad signature: another key under a known keyid is SignatureInvalid", () =>
    Effect.gen(function*() {
      const impostor = { ...makeKey(), keyid: key.keyid }
      expect(yield* outcome(envelopeFor(impostor))).toBe("SignatureInvalid")
    }))

  it.effect("tampered payload: changed payload bytes under the old signature are SignatureInvalid", () =>
    Effect.gen(function*() {
      const env = envelopeFor(key)
      const tampered = encodeBase64(encodeOpPayload(opFor({ action: { kind: "stop" } })))
      expect(yield* outcome({ ...env, payload: tampered })).toBe("SignatureInvalid")
    }))

  it.effect("payload decode: every bad path is named, unknown fields included", () =>
    Effect.gen(function*() {
      const bad = new TextEncoder().encode(JSON.stringify({
        ...opFor(),
        target: { vmid: 5 },
        action: { kind: "start" },
        seq: 0,
        extra: "x"
      }))
      const error = yield* refusal(signEnvelope(OP_PAYLOAD_TYPE, bad, [key]))
      expect(error._tag).toBe("PayloadMalformed")
      if (error._tag !== "PayloadMalformed") return
      const paths = error.issues.map((i) => i.path)
      expect(paths).toEqual(expect.arrayContaining(["target.vmid", "seq", "extra"]))
      const inverted = signEnvelope(OP_PAYLOAD_TYPE, encodeOpPayload(opFor({ iat: NOW, exp: NOW - 1 })), [key])
      expect(yield* outcome(inverted)).toBe("PayloadMalformed")
    }))

  it.effect("wrong audience: an op for another agent is WrongAudience", () =>
    Effect.gen(function*() {
      const error = yield* refusal(envelopeFor(key, opFor({ aud: "agent-other" })))
      expect(error._tag).toBe("WrongAudience")
      expect(error.message).toContain("agent-other")
    }))

  it.effect("expired: past exp + skew is OpExpired; within the skew it still verifies", () =>
    Effect.gen(function*() {
      expect(yield* outcome(envelopeFor(key, opFor({ iat: NOW - 200, exp: NOW - 61 })))).toBe("OpExpired")
      expect(yield* outcome(envelopeFor(key, opFor({ iat: NOW - 200, exp: NOW - 60 })))).toBe("verified")
    }))

  it.effect("expiry follows the Clock: the same envelope expires when time moves", () =>
    Effect.gen(function*() {
      const env = envelopeFor(key, opFor({ exp: NOW + 10 }))
      expect(yield* outcome(env)).toBe("verified")
      yield* TestClock.adjust("71 seconds")
      expect(yield* Effect.flip(verify(env, options)).pipe(Effect.map((e) => e._tag))).toBe("OpExpired")
    }))

  it.effect("not yet valid: nbf or iat beyond now + skew is OpNotYetValid, naming the bound", () =>
    Effect.gen(function*() {
      const nbf = yield* refusal(envelopeFor(key, opFor({ nbf: NOW + 61 })))
      expect(nbf._tag).toBe("OpNotYetValid")
      expect(nbf.message).toContain("nbf")
      const iat = yield* refusal(envelopeFor(key, opFor({ iat: NOW + 61, exp: NOW + 300 })))
      expect(iat._tag).toBe("OpNotYetValid")
      expect(iat.message).toContain("iat")
      expect(yield* outcome(envelopeFor(key, opFor({ nbf: NOW + 60 })))).toBe("verified")
    }))

  it.effect("lifetime too long: exp - iat beyond maxLifetime is OpLifetimeTooLong", () =>
    Effect.gen(function*() {
      expect(yield* outcome(envelopeFor(key, opFor({ iat: NOW, exp: NOW + 3601 })))).toBe("OpLifetimeTooLong")
      expect(yield* outcome(envelopeFor(key, opFor({ iat: NOW, exp: NOW + 100 })), { ...options, maxLifetime: 99 }))
        .toBe("OpLifetimeTooLong")
      expect(yield* outcome(envelopeFor(key, opFor({ iat: NOW, exp: NOW + 3600 })))).toBe("verified")
    }))

  it.effect("missing capability: power needs power, rollback needs snapshot and irreversible", () =>
    Effect.gen(function*() {
      const snapshotOnly = { ...options, signers: signersFor(key, ["snapshot"]) }
      expect(yield* outcome(envelopeFor(key), snapshotOnly)).toBe("CapabilityMissing")
      const rollback = envelopeFor(key, opFor({ action: { kind: "snapshot-rollback", name: "before-upgrade" } }))
      const error = yield* refusal(rollback, snapshotOnly)
      expect(error._tag).toBe("CapabilityMissing")
      if (error._tag === "CapabilityMissing") expect(error.missing).toEqual(["irreversible"])
      expect(yield* outcome(envelopeFor(key, opFor({ action: { kind: "snapshot-create", name: "s1" } })), snapshotOnly))
        .toBe("verified")
      expect(yield* outcome(rollback, { ...options, signers: signersFor(key, ["snapshot", "irreversible"]) }))
        .toBe("verified")
    }))

  it.effect("no signers configured: every op is refused with that reason", () =>
    Effect.gen(function*() {
      const error = yield* refusal(envelopeFor(key), { ...options, signers: noSigners() })
      expect(error._tag).toBe("NoSigners")
      expect(error.message).toContain("no signers configured")
    }))

  it.effect("checks run in order: the first failing step answers", () =>
    Effect.gen(function*() {
      // Wrong audience and expired and missing capability: audience is checked first.
      const env = envelopeFor(key, opFor({ aud: "other", iat: NOW - 500, exp: NOW - 400 }))
      expect(yield* outcome(env, { ...options, signers: signersFor(key, ["config"]) })).toBe("WrongAudience")
      // Unknown signer beats a wrong payload type? No: payload type is checked first.
      expect(yield* outcome({ ...envelopeFor(makeKey()), payloadType: "x" })).toBe("PayloadTypeUnsupported")
      // A valid signature among unknown ones is enough (DSSE: any trusted signature).
      const other = makeKey()
      const both = signEnvelope(OP_PAYLOAD_TYPE, encodeOpPayload(opFor()), [other, key])
      expect(yield* outcome(both)).toBe("verified")
      expect(yield* outcome(both, { ...options, signers: signersOf([]) })).toBe("NoSigners")
    }))

  it.effect("refusal messages and encoded errors never contain key material", () =>
    Effect.gen(function*() {
      const material = keyMaterial(key)
      const inputs: ReadonlyArray<unknown> = [
        "{",
        { ...envelopeFor(key), payloadType: "x" },
        envelopeFor(makeKey()),
        envelopeFor({ ...makeKey(), keyid: key.keyid }),
        envelopeFor(key, opFor({ aud: "x" })),
        envelopeFor(key, opFor({ iat: NOW - 500, exp: NOW - 400 })),
        envelopeFor(key, opFor({ target: { vmid: makeVmid(100) }, action: { kind: "snapshot-delete", name: "ab" } }))
      ]
      const opts = { ...options, signers: signersFor(key, ["power"]) }
      for (const input of inputs) {
        const error = yield* refusal(input, opts)
        const text = `${error.message} ${JSON.stringify(error)}`
        for (const m of material) expect(text).not.toContain(m)
      }
    }))
})

describe("Verifier on ambiguous JSON", () => {
  it.effect("a signed payload with a duplicate key is PayloadMalformed (one op, one meaning)", () =>
    Effect.gen(function*() {
      const json = JSON.stringify(opFor()).replace(/^\{/, "{\"aud\":\"agent-other\",")
      const error = yield* refusal(signEnvelope(OP_PAYLOAD_TYPE, new TextEncoder().encode(json), [key]))
      expect(error._tag).toBe("PayloadMalformed")
      expect(error.message).toContain("duplicate key aud")
      const nested = JSON.stringify(opFor()).replace("{\"vmid\":101}", "{\"vmid\":101,\"v\\u006did\":102}")
      const nestedError = yield* refusal(signEnvelope(OP_PAYLOAD_TYPE, new TextEncoder().encode(nested), [key]))
      expect(nestedError.message).toContain("duplicate key target.vmid")
    }))

  it.effect("an envelope with a duplicate key is EnvelopeMalformed", () =>
    Effect.gen(function*() {
      const env = envelopeFor(key)
      const text = JSON.stringify(env).replace(/^\{/, `{"payload":"${encodeBase64(new Uint8Array([1]))}",`)
      expect(yield* outcome(text)).toBe("EnvelopeMalformed")
    }))
})
