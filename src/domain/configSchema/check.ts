/**
 * Checks one desired value against its key's spec and says, in one sentence, what is wrong.
 * Values arrive as JSON/YAML scalars: `true`/`false` stand for PVE's 1/0, numbers and digit
 * strings are interchangeable. Numbers are held to the form PVE's config parser reads back
 * (qemu-server PVE::QemuServer `check_type`, pve-container PVE::LXC::Config `check_type`:
 * integers `^\d+$`, numbers `^\d+(\.\d+)?$`), which is stricter than the API's own check
 * (pve-common PVE::JSONSchema `is_integer`/`is_number` also take `+5`, `1e3`, `.5`): a value
 * the API accepts but the file parser rejects could never be read back. Property strings
 * follow PVE::JSONSchema `parse_property_string` and `check_object`, then the format's own
 * validator (`register_format`'s third argument). Pure.
 */
import type { PropertyFormat, PropertyMap, SubSpec, ValueSpec } from "./spec.js"

export type DesiredScalar = string | number | boolean

export interface Checked {
  readonly error?: string
  /** The value as it would be sent to PVE (booleans as 1/0). */
  readonly text?: string
  readonly props?: PropertyMap
}

const show = (v: DesiredScalar): string => (typeof v === "string" ? JSON.stringify(v) : String(v))
const codePoints = (s: string): number => [...s].length

const rangeText = (minimum?: number, maximum?: number, unit?: string): string => {
  const range = minimum !== undefined && maximum !== undefined
    ? ` from ${minimum} to ${maximum}`
    : minimum !== undefined
    ? ` ≥ ${minimum}`
    : maximum !== undefined
    ? ` ≤ ${maximum}`
    : ""
  return unit === undefined ? range : `${range} (${unit})`
}
const inRange = (n: number, minimum?: number, maximum?: number): boolean =>
  (minimum === undefined || n >= minimum) && (maximum === undefined || n <= maximum)

/** Optimal string alignment distance: a transposition ("memroy") costs one edit. */
export const editDistance = (a: string, b: string): number => {
  const d: Array<Array<number>> = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0))
  )
  const at = (i: number, j: number): number => d[i]?.[j] ?? Number.POSITIVE_INFINITY
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1)
      const row = d[i]
      if (row !== undefined) row[j] = best
    }
  }
  return at(a.length, b.length)
}

/** The closest candidate within a third of the word's length (at least one edit), if any. */
export const closest = (word: string, candidates: Iterable<string>): string | undefined => {
  const lower = word.toLowerCase()
  let best: { readonly c: string; readonly d: number } | undefined
  for (const c of candidates) {
    const d = editDistance(lower, c)
    if (best === undefined || d < best.d) best = { c, d }
  }
  return best !== undefined && best.d <= Math.max(1, Math.floor(word.length / 3)) ? best.c : undefined
}

const didYouMean = (word: string, candidates: Iterable<string>): string => {
  const c = closest(word, candidates)
  return c === undefined || c === word ? "" : ` (did you mean ${c}?)`
}

/** Plain text of a string-like value; booleans have no text form outside boolean keys. */
const asText = (v: DesiredScalar): string | undefined =>
  typeof v === "string" ? v : typeof v === "number" && Number.isFinite(v) ? String(v) : undefined

const checkInteger = (spec: Extract<ValueSpec, { kind: "integer" }>, v: DesiredScalar): Checked => {
  const text = asText(v)
  const bad = { error: `must be an integer${rangeText(spec.minimum, spec.maximum, spec.unit)}, got ${show(v)}` }
  if (text === undefined || !/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) return bad
  const n = Number(text)
  if (!inRange(n, spec.minimum, spec.maximum)) return bad
  if (spec.clamp !== undefined && n > spec.clamp.above) {
    return { error: `must be at most ${spec.clamp.above}, got ${show(v)}: ${spec.clamp.why}` }
  }
  return { text }
}

const checkNumber = (spec: Extract<ValueSpec, { kind: "number" }>, v: DesiredScalar): Checked => {
  const text = asText(v)
  if (text === undefined || !/^\d+(\.\d+)?$/.test(text) || !inRange(Number(text), spec.minimum, spec.maximum)) {
    return { error: `must be a number${rangeText(spec.minimum, spec.maximum)}, got ${show(v)}` }
  }
  return { text }
}

const checkBoolean = (v: DesiredScalar): Checked => {
  if (typeof v === "boolean") return { text: v ? "1" : "0" }
  if (v === 1 || v === 0 || v === "1" || v === "0") return { text: String(v) }
  return { error: `must be a boolean (true/false or 1/0), got ${show(v)}` }
}

const checkEnum = (values: ReadonlyArray<string>, v: DesiredScalar): Checked => {
  const text = asText(v)
  if (text !== undefined && values.includes(text)) return { text }
  return {
    error: `must be one of ${values.join(", ")}, got ${show(v)}${text === undefined ? "" : didYouMean(text, values)}`
  }
}

const singleLine = (text: string): string | undefined =>
  /[\r\n]/.test(text) ? "must be a single line: PVE stores the key on one config line" : undefined

const checkString = (spec: Extract<ValueSpec, { kind: "string" }>, v: DesiredScalar): Checked => {
  const text = asText(v)
  if (text === undefined) return { error: `must be a string, got ${show(v)}` }
  const error = (spec.multiline === true ? undefined : singleLine(text))
    ?? (spec.maxLength !== undefined && codePoints(text) > spec.maxLength
      ? `must be at most ${spec.maxLength} characters, got ${codePoints(text)}`
      : undefined)
    ?? (spec.pattern !== undefined && !spec.pattern.test(text)
      ? `must match ${spec.pattern.source}, got ${show(text)}`
      : undefined)
    ?? spec.format?.check(text)
  return error === undefined ? { text } : { error }
}

const BOOL_WORDS: ReadonlyMap<string, string> = new Map([
  ["1", "1"],
  ["on", "1"],
  ["yes", "1"],
  ["true", "1"],
  ["0", "0"],
  ["off", "0"],
  ["no", "0"],
  ["false", "0"]
])

/** PVE `check_prop` on one sub-value; booleans were already mapped by `parse_boolean`. */
const checkSub = (s: SubSpec, v: string, shown: string = show(v)): string | undefined => {
  switch (s.type) {
    case "boolean":
      return v === "0" || v === "1" ? undefined : `must be a boolean (1/0, on/off, yes/no, true/false), got ${shown}`
    case "integer":
    case "number": {
      const re = s.type === "integer" ? /^[+-]?\d+$/ : /^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$/
      return re.test(v) && inRange(Number(v), s.minimum, s.maximum)
        ? undefined
        : `must be ${s.type === "integer" ? "an integer" : "a number"}${
          rangeText(s.minimum, s.maximum, s.unit)
        }, got ${shown}`
    }
    case "string":
      return s.format?.check(v)
        ?? (s.pattern !== undefined && !s.pattern.test(v) ? `must match ${s.pattern.source}, got ${shown}` : undefined)
        ?? (s.maxLength !== undefined && codePoints(v) > s.maxLength
          ? `must be at most ${s.maxLength} characters`
          : undefined)
        ?? (s.enum !== undefined && !s.enum.includes(v)
          ? `must be one of ${s.enum.join(", ")}, got ${shown}${didYouMean(v, s.enum)}`
          : undefined)
  }
}

interface Parsed {
  readonly map: Map<string, string>
  readonly errors: Array<string>
  /** The default key, when its value was given bare. */
  readonly bare?: string
}

/** PVE `parse_property_string`: `k=v` parts, at most one bare value, no duplicates, aliases resolved. */
const parseProperties = (text: string, format: PropertyFormat | undefined, shallowDefault: string): Parsed => {
  const map = new Map<string, string>()
  const errors: Array<string> = []
  const defaultKey = format === undefined
    ? shallowDefault
    : Object.keys(format.keys).find((k) => format.keys[k]?.defaultKey === true)
  let bare: string | undefined
  for (const part of text.split(",")) {
    if (/^\s*$/.test(part)) continue
    const m = /^([^=]+)=(.+)$/.exec(part)
    if (m !== null) {
      let key = m[1] ?? ""
      let value = m[2] ?? ""
      if (map.has(key)) {
        errors.push(`duplicate key ${key}`)
        continue
      }
      const alias = format?.aliases?.[key]
      if (alias !== undefined) {
        if (alias.keyAlias !== undefined) {
          if (map.has(alias.keyAlias)) {
            errors.push(`${key} sets ${alias.keyAlias} twice`)
            continue
          }
          map.set(alias.keyAlias, key)
        }
        key = alias.target
        if (map.has(key)) {
          errors.push(`duplicate key ${key} (via ${m[1] ?? ""})`)
          continue
        }
      }
      if (format !== undefined) {
        const sub = format.keys[key]
        if (sub === undefined) {
          errors.push(
            `unknown key ${key}${didYouMean(key, [...Object.keys(format.keys), ...Object.keys(format.aliases ?? {})])}`
          )
          continue
        }
        if (sub.type === "boolean") value = BOOL_WORDS.get(value.toLowerCase()) ?? value
      } else if (!/^[a-z0-9][a-z0-9_-]*$/i.test(key)) {
        errors.push(`invalid key ${JSON.stringify(key)}`)
        continue
      }
      map.set(key, value)
    } else if (!part.includes("=")) {
      if (defaultKey === undefined) {
        errors.push(`value ${JSON.stringify(part)} has no key, and this property string has no default key`)
      } else if (bare !== undefined || map.has(defaultKey)) errors.push(`duplicate ${defaultKey}`)
      else {
        bare = defaultKey
        const sub = format?.keys[defaultKey]
        map.set(defaultKey, sub?.type === "boolean" ? BOOL_WORDS.get(part.toLowerCase()) ?? part : part)
      }
    } else {
      errors.push(`${JSON.stringify(part)} is missing its key or value`)
    }
  }
  return { map, errors, ...(bare === undefined ? {} : { bare }) }
}

/**
 * Parses and checks a property string; all its problems in one message. Without a format only
 * the generic shape is checked, and a bare value is filed under `shallowDefault`. `shownBare`
 * is how a problem with the bare value quotes it (a number given as a number stays unquoted).
 */
export const checkPropertyString = (
  format: PropertyFormat | undefined,
  text: string,
  shallowDefault = "value",
  shownBare?: string
): Checked => {
  if (text.trim() === "") return { error: "must not be empty (delete the key with null instead)" }
  const line = singleLine(text)
  if (line !== undefined) return { error: line }
  const { map, errors, bare } = parseProperties(text, format, shallowDefault)
  if (format !== undefined) {
    for (const [key, sub] of Object.entries(format.keys)) {
      const value = map.get(key)
      if (value === undefined) {
        if (sub.required === true) errors.push(`missing ${key}`)
        continue
      }
      const bad = key === bare ? checkSub(sub, value, shownBare) : checkSub(sub, value)
      if (bad !== undefined) errors.push(key === bare ? bad : `${key}: ${bad}`)
      if (sub.requires !== undefined && !map.has(sub.requires)) errors.push(`${key} requires ${sub.requires}`)
    }
  }
  if (errors.length > 0) return { error: errors.join("; ") }
  const invalid = format?.validate?.(map)
  return invalid === undefined ? { text, props: map } : { error: invalid }
}

/** Checks a non-null desired value against a key's value spec. */
export const checkValue = (spec: ValueSpec, v: DesiredScalar): Checked => {
  switch (spec.kind) {
    case "boolean":
      return checkBoolean(v)
    case "integer":
      return checkInteger(spec, v)
    case "number":
      return checkNumber(spec, v)
    case "enum":
      return checkEnum(spec.values, v)
    case "string":
      return checkString(spec, v)
    case "property-string": {
      const text = asText(v)
      return text === undefined
        ? { error: `must be a property string (k=v,…), got ${show(v)}` }
        : checkPropertyString(spec.properties, text, spec.defaultKey, show(v))
    }
  }
}
