/**
 * Request parameters and PVE's JSON-schema checks (pve-common `PVE::JSONSchema::validate`,
 * `check_prop`, `check_type`): every handler has
 * `additionalProperties => 0`, booleans accept only 1/0 (JSON true/false are turned into 1/0
 * before checking), integers are numeric strings or numbers, and the error texts are
 * `PVE::JSONSchema`'s. Pure.
 */
import type { ParamErrors } from "./Reply.js"

/** A parameter after transport decoding: JSON scalars become strings, repeated keys arrays. */
export type ParamValue = string | ReadonlyArray<string>
export type Params = Record<string, ParamValue>

export interface ParamSpec {
  readonly type: "string" | "integer" | "number" | "boolean"
  readonly optional?: boolean
  readonly minimum?: number
  readonly maximum?: number
  readonly maxLength?: number
  readonly minLength?: number
  readonly enum?: ReadonlyArray<string>
  /**
   * `*-list` formats: an array value is joined with `,` (pve-common `PVE::RESTHandler`
   * `$normalize_legacy_param_formats`).
   */
  readonly list?: boolean
  /**
   * PVE's `pattern`, checked as `m/^$pattern$/`: the source goes between the anchors as written,
   * so a bare alternation (`a|b`) binds to them the way it does in Perl. A pattern PVE writes as
   * `qr//` is spliced in as a group, so its source here is wrapped in `(?:…)`.
   */
  readonly pattern?: string
  /**
   * Returns the validator's die text (ending in `\n`) or undefined. `path` is where the value
   * sits (`net0`), which property-string formats put in front of their sub-keys (`net0.tag`).
   */
  readonly format?: (value: string, path: string) => string | undefined
}

export type Schema = Readonly<Record<string, ParamSpec>>

/**
 * Turns a decoded JSON body value into a parameter value; JSON booleans become 1/0 (pve-common
 * `PVE::JSONSchema::check_type`).
 */
export const paramFromJson = (v: unknown): ParamValue => {
  if (typeof v === "boolean") return v ? "1" : "0"
  if (typeof v === "number") return String(v)
  if (typeof v === "string") return v
  if (Array.isArray(v)) return v.map((x) => (typeof x === "string" ? x : JSON.stringify(x)))
  if (v === null) return ""
  return JSON.stringify(v)
}

const DNS_RE = /^(([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)\.)*([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)$/
const TAG_RE = /^[a-z0-9_][a-z0-9_\-+.]*$/i
/** pve-common `$PVE::JSONSchema::CONFIGID_RE`, used by `pve-configid` (snapshot names) and `pve-configid-list`. */
const CONFIGID_RE = /^[a-z][a-z0-9_-]+$/i
const VMID_RE = /^[1-9][0-9]{2,8}$/
const NODE_RE = /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/

/** Perl's `split`: trailing empty fields are dropped. */
const perlSplit = (s: string, sep: RegExp): Array<string> => {
  const parts = s.split(sep)
  while (parts.length > 0 && parts[parts.length - 1] === "") parts.pop()
  return parts
}

/**
 * PVE's `split_list` (pve-common `PVE::ParseUtils`): a value holding a NUL splits on NUL only;
 * otherwise `,` and `;` count as blanks and runs of whitespace separate the items.
 */
export const splitList = (s: string): Array<string> =>
  s.includes("\0") ? perlSplit(s, /\0/) : perlSplit(s.replace(/[,;]/g, " ").replace(/^\s+/, ""), /\s+/)

export const formats = {
  dnsName: (v: string) => (DNS_RE.test(v) ? undefined : "value does not look like a valid DNS name\n"),
  tagList: (v: string) => splitList(v).every((t) => TAG_RE.test(t)) ? undefined : "invalid characters in tag\n",
  snapshotName: (v: string) => (CONFIGID_RE.test(v) ? undefined : `invalid configuration ID '${v}'\n`),
  configIdList: (v: string) => {
    const bad = splitList(v).find((k) => !CONFIGID_RE.test(k))
    return bad === undefined ? undefined : `invalid configuration ID '${bad}'\n`
  },
  vmid: (v: string) => (VMID_RE.test(v) ? undefined : "value does not look like a valid VM ID\n"),
  node: (v: string) => (NODE_RE.test(v) ? undefined : "value does not look like a valid node name\n")
} as const

/** pve-common `PVE::JSONSchema` `is_integer` / `is_number`: a leading `+` or `-` is allowed. */
const INT_RE = /^[+-]?\d+$/
const NUM_RE = /^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$/

const patterns = new Map<string, RegExp>()
const anchored = (pattern: string): RegExp => {
  const known = patterns.get(pattern)
  if (known !== undefined) return known
  const re = new RegExp(`^${pattern}$`)
  patterns.set(pattern, re)
  return re
}

/**
 * One scalar value against its spec, in the order of pve-common `PVE::JSONSchema::check_prop`:
 * the type (`check_type`), then `format` (`check_format`), then `pattern`, then
 * maxLength/minLength (in characters), then maximum before minimum (only for numeric values),
 * then enum. The first failing check's text is the answer, so vmid 99 is a format error ("value
 * does not look like a valid VM ID"), not "minimum value of 100": pve-vmid carries both.
 * Returns the error text or undefined.
 */
export const checkValue = (spec: ParamSpec, value: string, path = ""): string | undefined => {
  switch (spec.type) {
    case "boolean":
      if (value !== "1" && value !== "0") return `type check ('boolean') failed - got '${value}'`
      break
    case "integer":
      if (!INT_RE.test(value)) return `type check ('integer') failed - got '${value}'`
      break
    case "number":
      if (!NUM_RE.test(value)) return `type check ('number') failed - got '${value}'`
      break
    case "string":
      break
  }
  if (spec.format !== undefined) {
    const err = spec.format(value, path)
    if (err !== undefined) return `invalid format - ${err}`
  }
  if (spec.pattern !== undefined && !anchored(spec.pattern).test(value)) return "value does not match the regex pattern"
  const length = [...value].length
  if (spec.maxLength !== undefined && length > spec.maxLength) {
    return `value may only be ${spec.maxLength} characters long`
  }
  if (spec.minLength !== undefined && length < spec.minLength) {
    return `value must be at least ${spec.minLength} characters long`
  }
  if (NUM_RE.test(value)) {
    const n = Number(value)
    if (spec.maximum !== undefined && n > spec.maximum) return `value must have a maximum value of ${spec.maximum}`
    if (spec.minimum !== undefined && n < spec.minimum) return `value must have a minimum value of ${spec.minimum}`
  }
  if (spec.enum !== undefined && !spec.enum.includes(value)) {
    return `value '${value}' does not have a value in the enumeration '${spec.enum.join(", ")}'`
  }
  return undefined
}

/**
 * Validates `params` against a schema (a record, or a lookup for dynamic key sets such as
 * config keys) and returns the scalar values plus the errors, keyed by parameter.
 */
export const validate = (
  schema: Schema | ((key: string) => ParamSpec | undefined),
  params: Params,
  required: ReadonlyArray<string> = []
): { readonly values: Record<string, string>; readonly errors: ParamErrors } => {
  // Own keys only: a parameter named `constructor` is unknown, not Object's.
  const lookup = typeof schema === "function"
    ? schema
    : (k: string) => (Object.hasOwn(schema, k) ? schema[k] : undefined)
  const values: Record<string, string> = {}
  const errors: ParamErrors = {}
  for (const [key, raw] of Object.entries(params)) {
    const spec = lookup(key)
    if (spec === undefined) {
      errors[key] = "property is not defined in schema and the schema does not allow additional properties"
      continue
    }
    let value: string
    if (typeof raw === "string") value = raw
    else if (spec.list === true) value = raw.join(",")
    else if (raw.length === 1 && raw[0] !== undefined) value = raw[0]
    else {
      errors[key] = `type check ('${spec.type}') failed - got ARRAY`
      continue
    }
    const err = checkValue(spec, value, key)
    if (err !== undefined) errors[key] = err
    else values[key] = value
  }
  for (const key of required) {
    if (params[key] === undefined && errors[key] === undefined) {
      errors[key] = "property is missing and it is not optional"
    }
  }
  return { values, errors }
}

export const hasErrors = (e: ParamErrors): boolean => Object.keys(e).length > 0

/** Path and common parameter specs shared by many endpoints. */
export const nodeSpec: ParamSpec = { type: "string", format: formats.node }
export const vmidSpec: ParamSpec = { type: "integer", minimum: 100, maximum: 999_999_999, format: formats.vmid }
export const snapnameSpec: ParamSpec = { type: "string", maxLength: 40, format: formats.snapshotName }
export const boolSpec: ParamSpec = { type: "boolean" }
export const intSpec = (minimum?: number, maximum?: number): ParamSpec => ({
  type: "integer",
  ...(minimum === undefined ? {} : { minimum }),
  ...(maximum === undefined ? {} : { maximum })
})
export const strSpec = (maxLength?: number): ParamSpec => ({
  type: "string",
  ...(maxLength === undefined ? {} : { maxLength })
})
