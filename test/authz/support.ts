/**
 * Fixtures for the signed-op tests: ed25519 keys, a valid op, and envelopes signed over it.
 * Times are epoch seconds; the tests run at NOW under TestClock (TestClock.setTime).
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto"
import { type Envelope, keyIdOf, signEnvelope } from "../../src/authz/Envelope.js"
import { encodeOpPayload, OP_PAYLOAD_TYPE, type OpPayload } from "../../src/authz/OpPayload.js"
import { type Capability, type Signers, signersOf } from "../../src/authz/Signers.js"
import { makeVmid } from "../../src/domain/Vmid.js"

export const NOW = 1_750_000_000
export const AGENT = "agent-pve1"

export interface TestKey {
  readonly keyid: string
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
}

export const makeKey = (): TestKey => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519")
  return { keyid: keyIdOf(publicKey), privateKey, publicKey }
}

export const ALL_CAPS: ReadonlyArray<Capability> = ["power", "config", "snapshot", "irreversible", "desired"]

export const signersFor = (key: TestKey, capabilities: ReadonlyArray<Capability> = ALL_CAPS): Signers =>
  signersOf([{ keyid: key.keyid, publicKey: key.publicKey, capabilities: new Set(capabilities) }])

export const opFor = (overrides: Partial<OpPayload> = {}): OpPayload => ({
  op_id: "op-0001",
  iss: "hub.example",
  aud: AGENT,
  target: { vmid: makeVmid(101) },
  iat: NOW - 10,
  exp: NOW + 300,
  seq: 1,
  action: { kind: "start" },
  ...overrides
})

export const envelopeFor = (key: TestKey, op: OpPayload = opFor(), payloadType = OP_PAYLOAD_TYPE): Envelope =>
  signEnvelope(payloadType, encodeOpPayload(op), [key])

export const envelopeJson = (key: TestKey, op: OpPayload = opFor()): string => JSON.stringify(envelopeFor(key, op))

/** Every private or public key encoding a test could find in a message. */
export const keyMaterial = (key: TestKey): ReadonlyArray<string> => {
  const priv = key.privateKey.export({ format: "jwk" })
  const pub = key.publicKey.export({ format: "jwk" })
  const pem = (s: string | Buffer) => String(s).split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"))
  return [
    priv.d ?? "",
    pub.x ?? "",
    Buffer.from(priv.d ?? "", "base64url").toString("base64"),
    Buffer.from(pub.x ?? "", "base64url").toString("base64"),
    ...pem(key.privateKey.export({ format: "pem", type: "pkcs8" })),
    ...pem(key.publicKey.export({ format: "pem", type: "spki" }))
  ].filter((s) => s.length > 0)
}
