/**
 * What every config check asks, the way PVE asks it: does the token hold each of these
 * privileges on a path (the first one missing is the answer), and what does a stored value say
 * (its property string parsed again; Perl's truthiness). And the write being checked.
 */
import { Either } from "effect"
import { parseProperties, type PropFormat } from "../PropertyFormat.js"
import type { Reply } from "../Reply.js"
import { type Ctx, need, uriVmid, vmPath } from "./Context.js"

/** The keys a write sets (with their values) and deletes (with whether forced). */
export interface WriteRequest {
  readonly sets: ReadonlyMap<string, string>
  readonly deletes: ReadonlyMap<string, boolean>
}

/** A check's refusal, if it refused. */
export const orUndefined = (c: Either.Either<void, Reply>): Reply | undefined =>
  Either.match(c, { onLeft: (r) => r, onRight: () => undefined })

/** Every one of `privs` on `path`. */
export const needOn = (ctx: Ctx, path: string, privs: ReadonlyArray<string>): Reply | undefined => {
  for (const priv of privs) {
    const denied = orUndefined(need(ctx, path, priv))
    if (denied !== undefined) return denied
  }
  return undefined
}

/** Every one of `privs` on the guest of the request. */
export const needVm = (ctx: Ctx, privs: ReadonlyArray<string>): Reply | undefined =>
  needOn(ctx, vmPath(uriVmid(ctx)), privs)

/** A value that passed the schema check, parsed again (empty when it somehow does not parse). */
export const parsed = (format: PropFormat, value: string): ReadonlyMap<string, string> => {
  const p = parseProperties(format, value)
  return "ok" in p ? p.ok : new Map()
}

/** Perl truthiness of an optional value. */
export const truthy = (v: string | undefined): boolean => v !== undefined && v !== "" && v !== "0"
