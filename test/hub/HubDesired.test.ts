import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { noSigners } from "../../src/authz/Signers.js"
import { verifyDesired, type VerifyDesiredOptions } from "../../src/hub/HubDesired.js"
import { DESIRED_PAYLOAD_TYPE } from "../../src/hub/protocol.js"
import { makeHubKey, signDesired, signersTrusting, unsignedDesired } from "../support/TestHub.js"
import { AGENT } from "./support.js"

const NOW = 1_750_000_000
const key = makeHubKey()
const doc = { guests: { "101": { power: "running", config: { description: "web" } } } }
const payload = { agent: AGENT, revision: "r7", issued_at: NOW - 5, expires_at: NOW + 600, document: doc }
const options: VerifyDesiredOptions = { agentId: AGENT, signers: signersTrusting(key), now: NOW, checkExpiry: true }

const tagOf = (bytes: Uint8Array, o: Partial<VerifyDesiredOptions> = {}) => {
  const r = verifyDesired(bytes, { ...options, ...o })
  return Either.isLeft(r) ? r.left._tag : "accepted"
}

describe("verifyDesired", () => {
  it("accepts a signed document and serves it with the signed revision", () => {
    const r = verifyDesired(signDesired(payload, [key]), options)
    expect(Either.isRight(r)).toBe(true)
    if (Either.isRight(r)) {
      expect(r.right.document).toEqual({
        revision: "r7",
        guests: { "101": { power: "running", config: { description: "web" } } }
      })
      expect(r.right.keyid).toBe(key.keyid)
      expect(r.right.issuedAt).toBe(NOW - 5)
    }
  })

  it("refuses each bad document with its own error, in verification order", () => {
    const other = makeHubKey()
    expect(tagOf(unsignedDesired(payload))).toBe("EnvelopeMalformed")
    expect(tagOf(new TextEncoder().encode("<html>oops</html>"))).toBe("EnvelopeMalformed")
    expect(tagOf(signDesired(payload, [other]))).toBe("UnknownSigner")
    // A signature by the right keyid made with another key: the keyid is known, the signature is not valid.
    expect(tagOf(signDesired(payload, [{ ...other, keyid: key.keyid }]))).toBe("SignatureInvalid")
    expect(tagOf(signDesired(payload, [key], "application/vnd.felhom.op+json;version=1"))).toBe(
      "PayloadTypeUnsupported"
    )
    expect(tagOf(signDesired(payload, [key]), { signers: noSigners() })).toBe("NoSigners")
    expect(tagOf(signDesired({ ...payload, agent: "agent-other" }, [key]))).toBe("DesiredWrongAudience")
    expect(tagOf(signDesired({ ...payload, issued_at: NOW + 3_600 }, [key]))).toBe("DesiredNotYetValid")
    expect(tagOf(signDesired({ ...payload, issued_at: NOW - 1_000, expires_at: NOW - 100 }, [key]))).toBe(
      "DesiredExpired"
    )
    expect(tagOf(signDesired(payload, [key]), { signers: signersTrusting(key, ["power", "config"]) })).toBe(
      "DesiredCapabilityMissing"
    )
    expect(tagOf(signDesired(payload, [key]), { lastGood: { revision: "r8", issuedAt: NOW } })).toBe("DesiredRollback")
    expect(tagOf(signDesired({ ...payload, document: { ...doc, revision: "r6" } }, [key]))).toBe(
      "DesiredRevisionMismatch"
    )
  })

  it("names every bad path of a signed but invalid document", () => {
    const bad = { guests: { "101": { power: "on", config: { digest: "x" } }, "7": {} } }
    const r = verifyDesired(signDesired({ ...payload, document: bad }, [key]), options)
    expect(Either.isLeft(r) && r.left._tag).toBe("DesiredStateInvalid")
    if (Either.isLeft(r) && r.left._tag === "DesiredStateInvalid") {
      const paths = r.left.issues.map((i) => i.path)
      expect(paths).toEqual(expect.arrayContaining(["guests.101.power", "guests.101.config.digest", "guests.7"]))
    }
  })

  it("refuses a payload with unknown or missing fields (the audience is mandatory)", () => {
    const { agent: _agent, ...noAgent } = payload
    expect(tagOf(signDesired({ ...noAgent } as never, [key]))).toBe("PayloadMalformed")
    expect(tagOf(signDesired({ ...payload, extra: 1 } as never, [key]))).toBe("PayloadMalformed")
  })

  it("re-verifying a stored document ignores expiry but not the signers", () => {
    const old = signDesired({ ...payload, issued_at: NOW - 10_000, expires_at: NOW - 9_000 }, [key])
    expect(tagOf(old, { checkExpiry: false })).toBe("accepted")
    expect(tagOf(old, { checkExpiry: false, signers: signersTrusting(makeHubKey()) })).toBe("UnknownSigner")
  })

  it("the payload type constant is the documented one", () => {
    expect(DESIRED_PAYLOAD_TYPE).toBe("application/vnd.felhom.desired+json;version=1")
  })
})
