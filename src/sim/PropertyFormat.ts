/**
 * Property strings (`k=v,k=v`) the way PVE parses, checks and prints them: pve-common
 * `PVE::JSONSchema::parse_property_string` (split on `,`, one bare value for the default key,
 * aliases, booleans through `parse_boolean`, its die texts), `check_object` (every sub-key
 * through `check_prop`, missing non-optional keys, `requires`; the errors raised together as
 * "format error") and `print_property_string` (default key first, then the non-optional keys,
 * then the rest, sorted). A sub-key is a `ParamSpec`, so its checks and texts are the ones of
 * Params.ts. Pure.
 */
import { checkValue, type ParamSpec } from "./Params.js"

export interface SubSpec extends ParamSpec {
  /** The key a value without `k=` is filed under (`default_key`). */
  readonly defaultKey?: boolean
  /** This key is another spelling of `alias` (`alias`); with `keyAlias`, `KEY=v` also sets `keyAlias` to KEY. */
  readonly alias?: string
  readonly keyAlias?: string
  /** Another sub-key that must be present when this one is. */
  readonly requires?: string
}

/** Sub-keys as PVE declares them: a key without `optional` is required. */
export type PropFormat = Readonly<Record<string, SubSpec>>

/** A check attached to a named format (`register_format`'s third argument); answers its die text. */
export type PropValidator = (props: ReadonlyMap<string, string>) => string | undefined

export type Parsed = { readonly ok: Map<string, string> } | { readonly error: string }

const parseBoolean = (v: string): string | undefined =>
  /^(1|on|yes|true)$/i.test(v) ? "1" : /^(0|off|no|false)$/i.test(v) ? "0" : undefined

/** Perl truthiness of a hash value: absent, "" and "0" are false. */
const truthy = (v: string | undefined): boolean => v !== undefined && v !== "" && v !== "0"

const subPath = (path: string, key: string): string => (path === "" ? key : `${path}.${key}`)

/** A sub-key of the format; a key written in the value never reaches the object's prototype. */
const subOf = (format: PropFormat, key: string): SubSpec | undefined =>
  Object.prototype.hasOwnProperty.call(format, key) ? format[key] : undefined

/** `add_error`: a second error on one path is appended after a literal backslash-n. */
const addError = (errors: Record<string, string>, path: string, text: string): void => {
  const before = errors[path]
  errors[path] = before === undefined ? text : `${before}\\n${text}`
}

/**
 * The `parse_property_string` loop without `check_object`: the keys as written (aliases
 * resolved, booleans as 1/0), or its first die text.
 */
export const readProperties = (format: PropFormat, data: string): Parsed => {
  const res = new Map<string, string>()
  const parts = data.split(",")
  while (parts.length > 0 && parts[parts.length - 1] === "") parts.pop()
  let defaultKey: string | undefined
  for (const part of parts) {
    if (/^\s*$/.test(part)) continue
    const kv = /^([^=]+)=(.+)$/.exec(part)
    if (kv !== null) {
      let key = kv[1] ?? ""
      let value = kv[2] ?? ""
      if (res.has(key)) return { error: `duplicate key in comma-separated list property: ${key}\n` }
      let sub = subOf(format, key)
      if (sub?.alias !== undefined) {
        if (sub.keyAlias !== undefined) {
          if (res.has(sub.keyAlias)) return { error: `key alias '${sub.keyAlias}' is already defined\n` }
          res.set(sub.keyAlias, key)
        }
        key = sub.alias
        sub = subOf(format, key)
        if (res.has(key)) return { error: `key '${key}' is already defined (via alias)\n` }
      }
      if (sub === undefined) return { error: `invalid key in comma-separated list property: ${key}\n` }
      if (sub.type === "boolean") value = parseBoolean(value) ?? value
      res.set(key, value)
    } else if (!part.includes("=")) {
      if (defaultKey !== undefined) return { error: `duplicate key in comma-separated list property: ${defaultKey}\n` }
      const [key, sub] = Object.entries(format).find(([, s]) => s.defaultKey === true) ?? []
      if (key === undefined || sub === undefined) {
        return { error: "value without key, but schema does not define a default key\n" }
      }
      defaultKey = key
      if (truthy(res.get(key))) return { error: `duplicate key in comma-separated list property: ${key}\n` }
      res.set(key, sub.type === "boolean" ? parseBoolean(part) ?? part : part)
    } else return { error: "missing key in comma-separated list property\n" }
  }
  return { ok: res }
}

/** `check_object` on a parsed property string; the errors by path (`net0.tag`). */
const checkObject = (format: PropFormat, res: Map<string, string>, path: string): Record<string, string> => {
  const errors: Record<string, string> = {}
  for (const [key, value] of [...res]) {
    const target = subOf(format, key)?.alias
    if (target === undefined) continue
    if (res.has(target)) {
      addError(errors, subPath(path, key), `cannot set both '${key}' and its alias target '${target}'`)
    } else {
      res.set(target, value)
      res.delete(key)
    }
  }
  for (const [key, sub] of Object.entries(format)) {
    if (sub.alias !== undefined) continue
    const value = res.get(key)
    if (value === undefined) {
      if (sub.optional !== true) addError(errors, subPath(path, key), "property is missing and it is not optional")
      continue
    }
    const err = checkValue(sub, value, subPath(path, key))
    if (err !== undefined) addError(errors, subPath(path, key), err)
  }
  for (const key of res.keys()) {
    const requires = subOf(format, key)?.requires
    if (requires !== undefined && !res.has(requires)) {
      addError(errors, subPath(path, requires), `missing property required by '${subPath(path, key)}'`)
    }
  }
  return errors
}

/**
 * `parse_property_string` with its `check_object` and validator: the parsed map, or the text
 * `check_format` dies with. Errors of several sub-keys come as one "format error" whose lines
 * are `PATH.KEY: text` (Perl hash order; sorted here).
 */
export const parseProperties = (format: PropFormat, data: string, path = "", validator?: PropValidator): Parsed => {
  const parsed = readProperties(format, data)
  if ("error" in parsed) return parsed
  const errors = checkObject(format, parsed.ok, path)
  const lines = Object.keys(errors).sort().map((k) => `${k}: ${errors[k] ?? ""}\n`)
  if (lines.length > 0) return { error: `format error\n${lines.join("")}` }
  const invalid = validator?.(parsed.ok)
  return invalid === undefined ? parsed : { error: invalid }
}

/** A property-string format as a `ParamSpec` format function. */
export const propertyFormat =
  (format: PropFormat, validator?: PropValidator) => (value: string, path: string): string | undefined => {
    const parsed = parseProperties(format, value, path, validator)
    return "error" in parsed ? parsed.error : undefined
  }

/**
 * `print_property_string` of checked data: the default key first (as `KEYALIAS=VALUE` when a
 * key alias combines with it, as qemu's `virtio=MAC`), then the non-optional keys, then the rest,
 * each group sorted.
 */
export const printProperties = (format: PropFormat, data: ReadonlyMap<string, string>): string => {
  const defaultKey = Object.keys(format).find((k) => format[k]?.defaultKey === true)
  const combined = new Map<string, string>()
  for (const sub of Object.values(format)) {
    if (sub.alias !== undefined && sub.keyAlias !== undefined) combined.set(sub.keyAlias, sub.alias)
  }
  const done = new Set<string>()
  const out: Array<string> = []
  const add = (key: string, isDefault: boolean): void => {
    if (done.has(key)) return
    done.add(key)
    const value = data.get(key)
    if (value === undefined) return
    const partner = combined.get(key)
    const partnerValue = partner === undefined ? undefined : data.get(partner)
    if (partner !== undefined && partnerValue !== undefined) {
      out.push(`${value}=${partnerValue}`)
      done.add(partner)
    } else out.push(isDefault ? value : `${key}=${value}`)
  }
  if (defaultKey !== undefined) add(defaultKey, true)
  const keys = [...data.keys()].sort()
  for (const key of keys) if (subOf(format, key) !== undefined && subOf(format, key)?.optional !== true) add(key, false)
  for (const key of keys) add(key, false)
  return out.join(",")
}
