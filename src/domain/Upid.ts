/**
 * UPID: PVE's task id, `UPID:{node}:{pid}:{pstart}:{starttime}:{type}:{id}:{user}:`
 * (pve-common `PVE::UPID::encode` / `decode`). pid and starttime are `%08X`;
 * pstart is at least 8 hex digits and grows to 9 after ~497 days of uptime. The trailing
 * colon is part of the id. Pure: parse and format round-trip exactly.
 */
import { Either, ParseResult, Schema, Struct } from "effect"

/**
 * The parts of a UPID, in the order the text carries them. Task status and list rows answer
 * the same fields beside the UPID (Task.ts spreads them), and so does the simulator's task.
 */
export const UpidFields = {
  node: Schema.String,
  pid: Schema.Number,
  pstart: Schema.Number,
  /** Epoch seconds. */
  starttime: Schema.Number,
  /** Task type, e.g. `qmstart`, `vzsnapshot`, `qmconfig`. */
  type: Schema.String,
  /** The vmid for guest tasks; empty for node-level tasks. */
  id: Schema.String,
  /** `user@realm`, or `user@realm!tokenid` for API tokens. */
  user: Schema.String
}

export const Upid = Schema.Struct(UpidFields)
export interface Upid extends Schema.Schema.Type<typeof Upid> {}

/** How one part reads from and prints into the text: PVE's `decode` regex, `encode`'s format. */
interface TextForm<A> {
  readonly pattern: string
  readonly read: (text: string) => A
  readonly show: (value: A) => string
}

const hex = (digits: string): TextForm<number> => ({
  pattern: `[0-9A-Fa-f]{${digits}}`,
  read: (text) => parseInt(text, 16),
  show: (n) => n.toString(16).toUpperCase().padStart(8, "0")
})

const text = (pattern: string): TextForm<string> => ({ pattern, read: (s) => s, show: (s) => s })

const textForms: { readonly [K in keyof Upid]: TextForm<Upid[K]> } = {
  node: text("[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"),
  pid: hex("8"),
  pstart: hex("8,9"),
  starttime: hex("8"),
  type: text("[^:\\s/]+"),
  id: text("[^:\\s/]*"),
  user: text("[^:\\s/]+")
}

const keys = Struct.keys(UpidFields)
const UPID_RE = new RegExp(`^UPID:${keys.map((k) => `(${textForms[k].pattern})`).join(":")}:$`)
const decodeParts = Schema.decodeUnknownEither(Upid)

export class UpidParseError extends Schema.TaggedError<UpidParseError>()("UpidParseError", {
  input: Schema.String
}) {
  override get message(): string {
    // Same wording as PVE's own decoder ("unable to parse worker upid").
    return `unable to parse worker upid '${this.input}'`
  }
}

export const parseUpid = (input: string): Either.Either<Upid, UpidParseError> => {
  const m = UPID_RE.exec(input)
  if (m === null) return Either.left(new UpidParseError({ input }))
  const parts = Object.fromEntries(keys.map((k, i) => [k, textForms[k].read(m[i + 1] ?? "")]))
  return Either.mapLeft(decodeParts(parts), () => new UpidParseError({ input }))
}

/** The UPID parts of a record that carries others beside them (a task row), in the text's order. */
export const upidParts = (record: Upid): Upid => Struct.pick(record, ...keys)

const show = <K extends keyof Upid>(u: Upid, k: K): string => textForms[k].show(u[k])

export const formatUpid = (u: Upid): string => `UPID:${keys.map((k) => show(u, k)).join(":")}:`

/** A UPID string that is known to parse; carried as the string PVE gave us, never re-formatted. */
export const UpidString = Schema.String.pipe(
  Schema.filter((s) => Either.isRight(parseUpid(s)) || `unable to parse worker upid '${s}'`),
  Schema.brand("Upid")
)
export type UpidString = typeof UpidString.Type

/** Decodes a UPID string into its parts (and encodes the parts back to the exact string). */
export const UpidFromString = Schema.transformOrFail(Schema.String, Upid, {
  strict: true,
  decode: (s, _, ast) => Either.mapLeft(parseUpid(s), (e) => new ParseResult.Type(ast, s, e.message)),
  encode: (u) => ParseResult.succeed(formatUpid(u))
})
