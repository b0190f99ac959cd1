/**
 * The DSSE envelope a hub signs ops with (secure-systems-lab signing-spec): the signature
 * covers PAE(payloadType, payload), so the type is bound inside the signed bytes (type
 * confusion, cosign CVE-2022-35929, came from checking the type beside the signature) and no
 * JSON canonicalization is needed: the verifier decodes exactly the bytes it verified.
 * Pure: schemas, strict base64, PAE, ed25519 through node:crypto. Key material never leaves
 * this module inside an error or a string other than the explicit PEM exports.
 */
import { Either, Schema } from "effect"
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto"

/** An ed25519 signature is 64 bytes; its canonical padded base64 is 88 characters. */
export const SIGNATURE_BYTES = 64
/** Bound on the whole serialized envelope: a hub op is small, an unbounded input is a DoS. */
export const MAX_ENVELOPE_BYTES = 64 * 1024
/** More signatures than this is not a threshold policy we support; it only costs verify time. */
export const MAX_SIGNATURES = 8

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Strict, canonical, padded base64 (RFC 4648 §4). Node's decoder silently skips bad characters
 * and ignores non-zero trailing bits, so two different strings can decode to the same bytes;
 * requiring the round trip makes the text ↔ bytes mapping one-to-one, so a changed character
 * can never verify.
 */
export const decodeBase64Strict = (text: string): Either.Either<Uint8Array, string> => {
  if (!BASE64.test(text)) return Either.left("not canonical padded base64")
  const bytes = Buffer.from(text, "base64")
  return bytes.toString("base64") === text
    ? Either.right(new Uint8Array(bytes))
    : Either.left("not canonical padded base64 (non-zero trailing bits)")
}

export const encodeBase64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64")

const Base64Text = (what: string, maxLength: number) =>
  Schema.String.pipe(
    Schema.maxLength(maxLength, { message: () => `${what} is longer than ${maxLength} characters` }),
    Schema.filter((s) => Either.isRight(decodeBase64Strict(s)) || `${what} is not canonical padded base64`)
  )

/** A signer's key id as configured; a safe charset so it can be printed and logged as is. */
export const KeyId = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}$/, {
    message: () => "keyid must be 1..128 characters of [A-Za-z0-9._:@/+=-], starting alphanumeric"
  })
)

export const EnvelopeSignature = Schema.Struct({
  keyid: KeyId,
  sig: Base64Text("sig", 128)
})
export type EnvelopeSignature = typeof EnvelopeSignature.Type

export const Envelope = Schema.Struct({
  payloadType: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256)),
  payload: Base64Text("payload", MAX_ENVELOPE_BYTES),
  signatures: Schema.Array(EnvelopeSignature).pipe(Schema.minItems(1), Schema.maxItems(MAX_SIGNATURES))
})
export type Envelope = typeof Envelope.Type

/** Unknown fields are refused: an envelope means exactly one thing. */
export const decodeEnvelope = Schema.decodeUnknownEither(Envelope, { errors: "all", onExcessProperty: "error" })

const utf8 = new TextEncoder()

/** PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body; lengths in bytes, ASCII decimal. */
export const pae = (payloadType: string, payload: Uint8Array): Uint8Array => {
  const type = utf8.encode(payloadType)
  const head = utf8.encode(`DSSEv1 ${type.length} `)
  const mid = utf8.encode(` ${payload.length} `)
  return new Uint8Array(Buffer.concat([head, type, mid, payload]))
}

/** The raw 32-byte ed25519 public key (the JWK `x`), which key ids are derived from. */
export const rawPublicKey = (key: KeyObject): Uint8Array => {
  const jwk = key.export({ format: "jwk" })
  return new Uint8Array(Buffer.from(jwk.x ?? "", "base64url"))
}

/** "sha256:" + hex of the first 16 bytes of sha256(raw public key): stable, short, not secret. */
export const keyIdOf = (publicKey: KeyObject): string =>
  "sha256:" + createHash("sha256").update(rawPublicKey(publicKey)).digest().subarray(0, 16).toString("hex")

const isEd25519 = (key: KeyObject): boolean => key.asymmetricKeyType === "ed25519"

/**
 * A configured public key: SPKI PEM, or base64 of the 32 raw bytes. A PEM that is not a
 * PUBLIC KEY block is refused, because createPublicKey would happily derive the public half of
 * a private key, and a private key pasted into a signers file must be noticed, not used.
 * The reason never quotes the input.
 */
export const parsePublicKey = (text: string): Either.Either<KeyObject, string> => {
  const trimmed = text.trim()
  const reason = "not an ed25519 public key (expected SPKI PEM or base64 of 32 raw bytes)"
  try {
    if (trimmed.startsWith("-----")) {
      if (!/^-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PUBLIC KEY-----$/.test(trimmed)) {
        return Either.left("not a PEM PUBLIC KEY block (a private key never belongs in a signers file)")
      }
      const key = createPublicKey({ key: trimmed, format: "pem" })
      return isEd25519(key) ? Either.right(key) : Either.left(reason)
    }
    const raw = decodeBase64Strict(trimmed)
    if (Either.isLeft(raw) || raw.right.length !== 32) return Either.left(reason)
    const x = Buffer.from(raw.right).toString("base64url")
    return Either.right(createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" }))
  } catch {
    // node:crypto throws on malformed keys; its message can quote the input, so it is dropped.
    return Either.left(reason)
  }
}

/** A PKCS#8 PEM ed25519 private key (as `keys generate` writes it). */
export const parsePrivateKey = (pem: string): Either.Either<KeyObject, string> => {
  try {
    const key = createPrivateKey({ key: pem, format: "pem" })
    return isEd25519(key) ? Either.right(key) : Either.left("not an ed25519 private key")
  } catch {
    return Either.left("not a PEM ed25519 private key")
  }
}

/** Signs PAE(type, payload) with ed25519 (pure EdDSA: node:crypto takes `null` as the digest). */
export const signEnvelope = (
  payloadType: string,
  payload: Uint8Array,
  signers: ReadonlyArray<{ readonly keyid: string; readonly privateKey: KeyObject }>
): Envelope => ({
  payloadType,
  payload: encodeBase64(payload),
  signatures: signers.map((s) => ({
    keyid: s.keyid,
    sig: encodeBase64(new Uint8Array(sign(null, pae(payloadType, payload), s.privateKey)))
  }))
})

/** True only for a 64-byte signature that verifies; node:crypto throws on odd inputs, which is "no". */
export const verifySignature = (publicKey: KeyObject, message: Uint8Array, signature: Uint8Array): boolean => {
  if (signature.length !== SIGNATURE_BYTES) return false
  try {
    return verify(null, message, publicKey, signature)
  } catch {
    return false
  }
}
