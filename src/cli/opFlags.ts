/**
 * Builds an op payload from `op sign` flags, for operators and hub developers who do not want
 * to write the JSON by hand. The result is only a candidate: it is decoded with the OpPayload
 * schema (every bad path named) before anything is signed.
 */
import { Either, HashMap, Option, ParseResult } from "effect"
import { decodeOpPayload, type OpActionKind, type OpPayload } from "../authz/OpPayload.js"
import type { Issue } from "../authz/SignedOpError.js"

export interface OpFlags {
  readonly opId: string
  readonly iss: string
  readonly aud: string
  readonly vmid: number
  readonly action: OpActionKind
  readonly seq: number
  /** Seconds from now until exp. */
  readonly ttl: number
  /** Seconds from now until nbf (omitted: valid at once). */
  readonly nbfIn: Option.Option<number>
  readonly set: Option.Option<HashMap.HashMap<string, string>>
  readonly delete: ReadonlyArray<string>
  readonly snapshot: Option.Option<string>
  readonly description: Option.Option<string>
  readonly digest: Option.Option<string>
  readonly flag: ReadonlyArray<"vmstate" | "start" | "force" | "force-stop">
  readonly timeout: Option.Option<number>
}

/** `cores=2` is a number to PVE; anything that is not a plain integer stays a string. */
const configValue = (v: string): string | number => (/^-?(0|[1-9][0-9]{0,14})$/.test(v) ? Number(v) : v)

const optional = <A, K extends string>(key: K, value: Option.Option<A>): { [P in K]?: A } =>
  Option.match(value, { onNone: () => ({}), onSome: (v) => ({ [key]: v }) as { [P in K]?: A } })

const has = (flags: OpFlags, f: OpFlags["flag"][number]): boolean => flags.flag.includes(f)

const actionOf = (flags: OpFlags): Record<string, unknown> => {
  const name = Option.getOrUndefined(flags.snapshot)
  switch (flags.action) {
    case "start":
    case "stop":
      return { kind: flags.action }
    case "shutdown":
      return {
        kind: "shutdown",
        ...optional("timeout", flags.timeout),
        ...(has(flags, "force-stop") ? { forceStop: true } : {})
      }
    case "set-config":
      return {
        kind: "set-config",
        set: Option.match(flags.set, {
          onNone: () => ({}),
          onSome: (m) => Object.fromEntries([...HashMap.entries(m)].map(([k, v]) => [k, configValue(v)]))
        }),
        delete: [...flags.delete]
      }
    case "snapshot-create":
      return {
        kind: "snapshot-create",
        name,
        ...optional("description", flags.description),
        ...(has(flags, "vmstate") ? { vmstate: true } : {})
      }
    case "snapshot-rollback":
      return { kind: "snapshot-rollback", name, ...(has(flags, "start") ? { start: true } : {}) }
    case "snapshot-delete":
      return { kind: "snapshot-delete", name, ...(has(flags, "force") ? { force: true } : {}) }
  }
}

/** The payload the flags describe at `now` (epoch seconds), or every schema issue. */
export const payloadFromFlags = (flags: OpFlags, now: number): Either.Either<OpPayload, ReadonlyArray<Issue>> =>
  Either.mapLeft(
    decodeOpPayload({
      op_id: flags.opId,
      iss: flags.iss,
      aud: flags.aud,
      target: { vmid: flags.vmid },
      iat: now,
      ...Option.match(flags.nbfIn, { onNone: () => ({}), onSome: (s) => ({ nbf: now + s }) }),
      exp: now + flags.ttl,
      seq: flags.seq,
      action: actionOf(flags),
      ...Option.match(flags.digest, { onNone: () => ({}), onSome: (digest) => ({ precondition: { digest } }) })
    }),
    (e) => ParseResult.ArrayFormatter.formatErrorSync(e).map((i) => ({ path: i.path.join("."), message: i.message }))
  )
