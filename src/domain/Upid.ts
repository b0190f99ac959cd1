/**
 * UPID: PVE's task id, `UPID:{node}:{pid}:{pstart}:{starttime}:{type}:{id}:{user}:`
 * (pve-common `PVE::UPID::encode` / `decode`). pid and starttime are `%08X`;
 * pstart is at least 8 hex digits and grows to 9 after ~497 days of uptime. The trailing
 * colon is part of the id. Pure: parse and format round-trip exactly.
 */
import { Either, ParseResult, Schema } from "effect"

export interface Upid {
  readonly node: string
  readonly pid: number
  readonly pstart: number
  /** Epoch seconds. */
  readonly starttime: number
  /** Task type, e.g. `qmstart`, `vzsnapshot`, `qmconfig`. */
  readonly type: string
  /** The vmid for guest tasks; empty for node-level tasks. */
  readonly id: string
  /** `user@realm`, or `user@realm!tokenid` for API tokens. */
  readonly user: string
}

const UPID_RE =
  /^UPID:([a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$/

const hex = (n: number, width: number): string => n.toString(16).toUpperCase().padStart(width, "0")

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
  const [, node, pid, pstart, starttime, type, id, user] = m as unknown as [
    string, string, string, string, string, string, string, string
  ]
  return Either.right({
    node,
    pid: parseInt(pid, 16),
    pstart: parseInt(pstart, 16),
    starttime: parseInt(starttime, 16),
    type,
    id,
    user
  })
}

export const formatUpid = (u: Upid): string =>
  `UPID:${u.node}:${hex(u.pid, 8)}:${hex(u.pstart, 8)}:${hex(u.starttime, 8)}:${u.type}:${u.id}:${u.user}:`

/** A UPID string that is known to parse; carried as the string PVE gave us, never re-formatted. */
export const UpidString = Schema.String.pipe(
  Schema.filter((s) => Either.isRight(parseUpid(s)) || `unable to parse worker upid '${s}'`),
  Schema.brand("Upid")
)
export type UpidString = typeof UpidString.Type

/** Decodes a UPID string into its parts (and encodes the parts back to the exact string). */
export const UpidFromString = Schema.transformOrFail(
  Schema.String,
  Schema.Struct({
    node: Schema.String,
    pid: Schema.Number,
    pstart: Schema.Number,
    starttime: Schema.Number,
    type: Schema.String,
    id: Schema.String,
    user: Schema.String
  }),
  {
    strict: true,
    decode: (s, _, ast) =>
      Either.mapLeft(parseUpid(s), (e) => new ParseResult.Type(ast, s, e.message)),
    encode: (u) => ParseResult.succeed(formatUpid(u))
  }
)
