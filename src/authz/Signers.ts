/**
 * Who may sign ops, and for what: the signers file (JSON or YAML) maps each keyid to an
 * ed25519 public key and the capabilities that key holds. With no signer configured the value
 * still exists and refuses every op with the reason (docs/architecture.md, invariant 6: the daemon keeps
 * running). Bad entries are named by path; key material is never quoted back.
 */
import { Data, Effect, Either, ParseResult, Schema } from "effect"
import type { KeyObject } from "node:crypto"
import * as fs from "node:fs"
import * as YAML from "yaml"
import { KeyId, parsePublicKey } from "./Envelope.js"
import type { OpAction } from "./OpPayload.js"

export const Capability = Schema.Literal("power", "config", "snapshot", "irreversible", "desired")
export type Capability = typeof Capability.Type

/** What each action needs; rollback and delete lose state, so they also need `irreversible`. */
export const requiredCapabilities = (action: OpAction): ReadonlyArray<Capability> => {
  switch (action.kind) {
    case "start":
    case "stop":
    case "shutdown":
      return ["power"]
    case "set-config":
      return ["config"]
    case "snapshot-create":
      return ["snapshot"]
    case "snapshot-rollback":
    case "snapshot-delete":
      return ["snapshot", "irreversible"]
  }
}

export interface Signer {
  readonly keyid: string
  readonly publicKey: KeyObject
  readonly capabilities: ReadonlySet<Capability>
}

export interface Signers {
  readonly byKeyId: ReadonlyMap<string, Signer>
  /** Why no op can be admitted when `byKeyId` is empty (shown as the NoSigners reason). */
  readonly emptyReason: string
}

export const NO_SIGNERS_REASON = "no signers configured"

/** Refuses every op; `reason` says why (none configured, or the file was unusable). */
export const noSigners = (reason: string = NO_SIGNERS_REASON): Signers => ({ byKeyId: new Map(), emptyReason: reason })

export const signersOf = (list: ReadonlyArray<Signer>): Signers => ({
  byKeyId: new Map(list.map((s) => [s.keyid, s])),
  emptyReason: NO_SIGNERS_REASON
})

/** The signers file could not be read or decoded; `issues` are `path: message` lines. */
export class SignersFileInvalid extends Data.TaggedError("SignersFileInvalid")<{
  readonly file: string
  readonly issues: ReadonlyArray<string>
}> {
  override get message(): string {
    return `signers file ${this.file} is invalid: ${this.issues.join("; ")}`
  }
}

const SignerEntry = Schema.Struct({
  keyid: KeyId,
  publicKey: Schema.String.pipe(Schema.maxLength(4096)),
  capabilities: Schema.Array(Capability).pipe(Schema.minItems(1))
})

const SignersFile = Schema.Struct({
  signers: Schema.Array(SignerEntry).pipe(Schema.maxItems(1024))
})

const issuesOf = (e: ParseResult.ParseError): ReadonlyArray<string> =>
  ParseResult.ArrayFormatter.formatErrorSync(e).map((i) =>
    i.path.length > 0 ? `${i.path.join(".")}: ${i.message}` : i.message
  )

/**
 * Decodes an already-parsed signers document. A key that does not parse and a keyid given
 * twice are named by path (`signers.2.publicKey`); the key itself is never echoed (a private
 * key pasted by mistake must not land in a log).
 */
export const decodeSigners = (doc: unknown): Either.Either<Signers, ReadonlyArray<string>> => {
  const decoded = Schema.decodeUnknownEither(SignersFile, { errors: "all", onExcessProperty: "error" })(doc)
  if (Either.isLeft(decoded)) return Either.left(issuesOf(decoded.left))
  const issues: Array<string> = []
  const signers: Array<Signer> = []
  const seen = new Set<string>()
  decoded.right.signers.forEach((entry, i) => {
    if (seen.has(entry.keyid)) issues.push(`signers.${i}.keyid: duplicate keyid ${entry.keyid}`)
    seen.add(entry.keyid)
    const key = parsePublicKey(entry.publicKey)
    if (Either.isLeft(key)) issues.push(`signers.${i}.publicKey: ${key.left}`)
    else signers.push({ keyid: entry.keyid, publicKey: key.right, capabilities: new Set(entry.capabilities) })
  })
  return issues.length > 0 ? Either.left(issues) : Either.right(signersOf(signers))
}

/** JSON is a subset of YAML 1.2, so one parser reads both; an empty file is "no signers". */
export const parseSignersText = (text: string): Either.Either<Signers, ReadonlyArray<string>> => {
  if (text.trim() === "") return Either.right(noSigners())
  let doc: unknown
  try {
    doc = YAML.parse(text, { uniqueKeys: true, maxAliasCount: 0 })
  } catch (cause) {
    // YAML's message quotes the offending line, which may be a key: keep only the position.
    const pos = cause instanceof YAML.YAMLError ? ` at line ${cause.linePos?.[0].line ?? "?"}` : ""
    return Either.left([`not valid JSON or YAML${pos}`])
  }
  return decodeSigners(doc)
}

/**
 * Reads the signers file. An absent file is not an error: it is the "no signers configured"
 * state, in which every op is refused and the daemon keeps running. A present but invalid file
 * fails, so a typo is seen at start-up; the daemon may still choose `noSigners(error.message)`.
 */
export const loadSigners = (file: string): Effect.Effect<Signers, SignersFileInvalid> =>
  Effect.gen(function*() {
    const text = yield* Effect.tryPromise({
      try: () => fs.promises.readFile(file, "utf8"),
      catch: (cause) => cause
    }).pipe(
      Effect.map((t): string | undefined => t),
      Effect.catchAll((cause) =>
        typeof cause === "object" && cause !== null && "code" in cause && cause.code === "ENOENT"
          ? Effect.succeed(undefined)
          : Effect.fail(new SignersFileInvalid({ file, issues: [`cannot read: ${String(cause)}`] }))
      )
    )
    if (text === undefined) return noSigners(`${NO_SIGNERS_REASON} (${file} does not exist)`)
    const parsed = parseSignersText(text)
    return Either.isRight(parsed)
      ? parsed.right
      : yield* new SignersFileInvalid({ file, issues: parsed.left })
  })
