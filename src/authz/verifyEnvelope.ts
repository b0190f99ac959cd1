/**
 * The payload-agnostic half of DSSE verification (docs/architecture.md, invariant 6), shared by signed ops
 * (Verifier.ts) and the hub's desired document (hub/HubDesired.ts) so that a refusal reads the
 * same whatever was signed: envelope shape → payload type → known keyid → signature, stopping at
 * the first failure with that step's own error. It answers exactly the bytes whose signature
 * verified and the signers who signed them; decoding those bytes is the caller's next step. Pure.
 */
import { Either, ParseResult } from "effect"
import { parseStrictJson } from "../domain/strictJson.js"
import { decodeBase64Strict, decodeEnvelope, type Envelope, pae, verifySignature } from "./Envelope.js"
import {
  EnvelopeMalformed,
  type Issue,
  NoSigners,
  PayloadMalformed,
  PayloadTypeUnsupported,
  SignatureInvalid,
  UnknownSigner
} from "./SignedOpError.js"
import type { Signer, Signers } from "./Signers.js"

export type EnvelopeRefused = EnvelopeMalformed | PayloadTypeUnsupported | NoSigners | UnknownSigner | SignatureInvalid

export interface VerifiedEnvelope {
  readonly envelope: Envelope
  /** Exactly the bytes whose signature verified. */
  readonly payloadBytes: Uint8Array
  /** Every configured signer with a valid signature (capabilities are the caller's check). */
  readonly signers: ReadonlyArray<Signer>
}

/** Schema messages can quote the offending (untrusted, up to 64 KiB) value: keep them short. */
export const issuesOf = (e: ParseResult.ParseError): ReadonlyArray<Issue> =>
  ParseResult.ArrayFormatter.formatErrorSync(e).map((i) => ({
    path: i.path.join("."),
    message: i.message.length > 200 ? `${i.message.slice(0, 200)}…` : i.message
  }))

const one = (message: string): ReadonlyArray<Issue> => [{ path: "", message }]
const malformed = (message: string) => new EnvelopeMalformed({ issues: one(message) })

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * Strict UTF-8 JSON without duplicate keys (refused in the envelope and, above all, in the
 * signed payload); the reason text never quotes the input.
 */
export const parseJsonBytes = (bytes: Uint8Array): Either.Either<unknown, string> => {
  let text: string
  try {
    text = fatalUtf8.decode(bytes)
  } catch {
    return Either.left("not valid UTF-8")
  }
  return parseStrictJson(text)
}

/** Bytes or text are parsed as JSON (bounded, strict UTF-8); anything else is taken as parsed. */
const parseInput = (input: unknown, maxBytes: number): Either.Either<unknown, EnvelopeMalformed> => {
  if (input instanceof Uint8Array) {
    if (input.length > maxBytes) return Either.left(malformed(`larger than ${maxBytes} bytes`))
    return Either.mapLeft(parseJsonBytes(input), malformed)
  }
  if (typeof input === "string") {
    if (Buffer.byteLength(input, "utf8") > maxBytes) return Either.left(malformed(`larger than ${maxBytes} bytes`))
    return Either.mapLeft(parseStrictJson(input), malformed)
  }
  return Either.right(input)
}

const shape = (input: unknown, maxBytes: number): Either.Either<Envelope, EnvelopeMalformed> =>
  Either.flatMap(
    parseInput(input, maxBytes),
    (json) => Either.mapLeft(decodeEnvelope(json), (e) => new EnvelopeMalformed({ issues: issuesOf(e) }))
  )

const knownSigners = (envelope: Envelope, signers: Signers) => {
  if (signers.byKeyId.size === 0) return Either.left(new NoSigners({ reason: signers.emptyReason }))
  const known = envelope.signatures.flatMap((s) => {
    const signer = signers.byKeyId.get(s.keyid)
    return signer === undefined ? [] : [{ signer, sig: s.sig }]
  })
  return known.length > 0
    ? Either.right(known)
    : Either.left(new UnknownSigner({ keyids: envelope.signatures.map((s) => s.keyid) }))
}

/** DSSE: accept the signatures by known keyids that verify over PAE(type, payload). */
const validSigners = (
  envelope: Envelope,
  payload: Uint8Array,
  known: ReadonlyArray<{ readonly signer: Signer; readonly sig: string }>
): Either.Either<ReadonlyArray<Signer>, SignatureInvalid> => {
  const message = pae(envelope.payloadType, payload)
  const valid = known.filter(({ sig, signer }) => {
    const bytes = decodeBase64Strict(sig)
    return Either.isRight(bytes) && verifySignature(signer.publicKey, message, bytes.right)
  }).map((k) => k.signer)
  return valid.length > 0
    ? Either.right(valid)
    : Either.left(new SignatureInvalid({ keyids: known.map((k) => k.signer.keyid) }))
}

/**
 * Verifies `input` (envelope JSON as bytes or text of at most `maxBytes`, or already parsed)
 * as a DSSE envelope of `payloadType` signed by at least one of `signers`.
 */
export const verifyEnvelope = (
  input: unknown,
  payloadType: string,
  signers: Signers,
  maxBytes: number
): Either.Either<VerifiedEnvelope, EnvelopeRefused> =>
  Either.gen(function*() {
    const envelope = yield* shape(input, maxBytes)
    if (envelope.payloadType !== payloadType) {
      return yield* Either.left(
        new PayloadTypeUnsupported({ payloadType: envelope.payloadType, expected: payloadType })
      )
    }
    const known = yield* knownSigners(envelope, signers)
    // The shape step already proved the payload is canonical base64.
    const payloadBytes = yield* Either.mapLeft(decodeBase64Strict(envelope.payload), malformed)
    const valid = yield* validSigners(envelope, payloadBytes, known)
    return { envelope, payloadBytes, signers: valid }
  })

/** The verified payload bytes as JSON, or PayloadMalformed (the payload-decode step's error). */
export const payloadJson = (bytes: Uint8Array): Either.Either<unknown, PayloadMalformed> =>
  Either.mapLeft(parseJsonBytes(bytes), (m) => new PayloadMalformed({ issues: one(m) }))
