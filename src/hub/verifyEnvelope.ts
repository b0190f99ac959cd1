/**
 * The payload-agnostic half of DSSE verification: envelope shape → payload type → known keyid
 * → signature, answering exactly the bytes that were signed and the signers whose signature
 * verified. Verifier.ts does the same steps for ops but is bound to the op payload; this copy
 * serves the desired document (and any later signed type) with the same errors, so a refusal
 * reads the same whatever was signed. Pure.
 */
import { Either, ParseResult } from "effect"
import { decodeBase64Strict, decodeEnvelope, type Envelope, pae, verifySignature } from "../authz/Envelope.js"
import {
  EnvelopeMalformed,
  type Issue,
  NoSigners,
  PayloadMalformed,
  PayloadTypeUnsupported,
  SignatureInvalid,
  UnknownSigner
} from "../authz/SignedOpError.js"
import type { Signer, Signers } from "../authz/Signers.js"
import { parseStrictJson } from "../authz/strictJson.js"

export type EnvelopeRefused = EnvelopeMalformed | PayloadTypeUnsupported | NoSigners | UnknownSigner | SignatureInvalid

export interface VerifiedEnvelope {
  readonly envelope: Envelope
  /** Exactly the bytes whose signature verified. */
  readonly payloadBytes: Uint8Array
  /** Every configured signer with a valid signature (capabilities are the caller's check). */
  readonly signers: ReadonlyArray<Signer>
}

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true })

/** Schema messages can quote untrusted values of any size: keep each one short. */
export const issuesOf = (e: ParseResult.ParseError): ReadonlyArray<Issue> =>
  ParseResult.ArrayFormatter.formatErrorSync(e).map((i) => ({
    path: i.path.join("."),
    message: i.message.length > 200 ? `${i.message.slice(0, 200)}…` : i.message
  }))

const one = (message: string): ReadonlyArray<Issue> => [{ path: "", message }]

/** Strict UTF-8 JSON without duplicate keys; `undefined` reason text never quotes the input. */
export const parseJsonBytes = (bytes: Uint8Array): Either.Either<unknown, string> => {
  let text: string
  try {
    text = fatalUtf8.decode(bytes)
  } catch {
    return Either.left("not valid UTF-8")
  }
  return parseStrictJson(text)
}

export const verifyEnvelope = (
  bytes: Uint8Array,
  payloadType: string,
  signers: Signers,
  maxBytes: number
): Either.Either<VerifiedEnvelope, EnvelopeRefused> =>
  Either.gen(function*() {
    if (bytes.length > maxBytes) {
      return yield* Either.left(new EnvelopeMalformed({ issues: one(`larger than ${maxBytes} bytes`) }))
    }
    const json = yield* Either.mapLeft(parseJsonBytes(bytes), (m) => new EnvelopeMalformed({ issues: one(m) }))
    const envelope = yield* Either.mapLeft(decodeEnvelope(json), (e) => new EnvelopeMalformed({ issues: issuesOf(e) }))
    if (envelope.payloadType !== payloadType) {
      return yield* Either.left(new PayloadTypeUnsupported({ payloadType: envelope.payloadType, expected: payloadType }))
    }
    if (signers.byKeyId.size === 0) return yield* Either.left(new NoSigners({ reason: signers.emptyReason }))
    const known = envelope.signatures.flatMap((s) => {
      const signer = signers.byKeyId.get(s.keyid)
      return signer === undefined ? [] : [{ signer, sig: s.sig }]
    })
    if (known.length === 0) {
      return yield* Either.left(new UnknownSigner({ keyids: envelope.signatures.map((s) => s.keyid) }))
    }
    // The shape step already proved the payload is canonical base64.
    const payloadBytes = yield* Either.mapLeft(
      decodeBase64Strict(envelope.payload),
      (m) => new EnvelopeMalformed({ issues: one(m) })
    )
    const message = pae(envelope.payloadType, payloadBytes)
    const valid = known.filter(({ sig, signer }) => {
      const raw = decodeBase64Strict(sig)
      return Either.isRight(raw) && verifySignature(signer.publicKey, message, raw.right)
    }).map((k) => k.signer)
    if (valid.length === 0) {
      return yield* Either.left(new SignatureInvalid({ keyids: known.map((k) => k.signer.keyid) }))
    }
    return { envelope, payloadBytes, signers: valid }
  })

/** The verified payload bytes as JSON, or PayloadMalformed (same error the op verifier uses). */
export const payloadJson = (bytes: Uint8Array): Either.Either<unknown, PayloadMalformed> =>
  Either.mapLeft(parseJsonBytes(bytes), (m) => new PayloadMalformed({ issues: one(m) }))
