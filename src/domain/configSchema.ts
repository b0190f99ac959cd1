/**
 * Which config keys a desired document may set on a qemu or lxc guest, and with what values,
 * as PVE itself declares them (tables in configSchema/qemu.ts and configSchema/lxc.ts, each
 * number read from PVE's Perl sources and cited there). `validateConfig` names every bad key
 * in one pass — typos with a did-you-mean, values out of range, keys PVE maintains itself or
 * that only root@pam may set — so a document is refused before the agent acts on it, instead
 * of failing against PVE on every reconcile pass. Pure: no I/O, no services.
 */
import { checkValue, closest, type DesiredScalar } from "./configSchema/check.js"
import { LXC_SCHEMA } from "./configSchema/lxc.js"
import { QEMU_SCHEMA } from "./configSchema/qemu.js"
import type { CurrentConfig, GuestConfigSchema, KeySpec, Refusal } from "./configSchema/spec.js"
import type { GuestType } from "./Guest.js"

export type { DesiredScalar } from "./configSchema/check.js"
export type { FormatName } from "./configSchema/formats.js"
export type {
  CurrentConfig,
  GuestConfigSchema,
  KeyFamily,
  KeySpec,
  PropertyFormat,
  Refusal,
  RefusalKind,
  SubSpec,
  ValueSpec
} from "./configSchema/spec.js"

export const CONFIG_SCHEMA: Readonly<Record<GuestType, GuestConfigSchema>> = { qemu: QEMU_SCHEMA, lxc: LXC_SCHEMA }

export type DesiredConfigInput = Readonly<Record<string, DesiredScalar | null>>

export interface ConfigIssue {
  /** The config key the issue is about. */
  readonly path: string
  readonly message: string
}

const own = <T>(record: Readonly<Record<string, T>>, key: string): T | undefined =>
  Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined

const INDEXED_RE = /^([a-z_-]*[a-z_-])(0|[1-9][0-9]*)$/

/** `net3` → `["net", 3]`; keys without a plain decimal suffix have no index. */
const splitIndex = (key: string): readonly [string, number] | undefined => {
  const m = INDEXED_RE.exec(key)
  return m === null ? undefined : [m[1] ?? "", Number(m[2])]
}

/** The spec of a key a document may set, or undefined (unknown or refused). */
export const keySpec = (type: GuestType, key: string): KeySpec | undefined => {
  const schema = CONFIG_SCHEMA[type]
  const fixed = own(schema.keys, key)
  if (fixed !== undefined) return fixed
  const indexed = splitIndex(key)
  if (indexed === undefined) return undefined
  const [prefix, n] = indexed
  return schema.families.find((f) => f.prefix === prefix && n < f.count)?.spec
}

/** Why a key can never be desired (PVE maintains it, only root@pam may set it, …), if so. */
export const refusalOf = (type: GuestType, key: string): Refusal | undefined => {
  const schema = CONFIG_SCHEMA[type]
  const fixed = own(schema.refused, key)
  if (fixed !== undefined) return fixed
  const indexed = splitIndex(key)
  if (indexed === undefined) return undefined
  const [prefix, n] = indexed
  return schema.refusedFamilies.find((f) => f.prefix === prefix && n < f.count)?.refusal
}

/** Whether a desired document may name this key for this guest type. */
export const isKnownKey = (type: GuestType, key: string): boolean => keySpec(type, key) !== undefined

/** Every key a document may name, device families expanded (`net0` … `net31`). */
export const knownKeys = (type: GuestType): ReadonlyArray<string> => {
  const schema = CONFIG_SCHEMA[type]
  return [
    ...Object.keys(schema.keys),
    ...schema.families.flatMap((f) => Array.from({ length: f.count }, (_, i) => `${f.prefix}${i}`))
  ]
}

const article = (type: GuestType): string => (type === "lxc" ? "an lxc" : "a qemu")

const unknownKeyMessage = (type: GuestType, key: string): string => {
  const schema = CONFIG_SCHEMA[type]
  const indexed = splitIndex(key)
  const family = indexed === undefined
    ? undefined
    : [...schema.families, ...schema.refusedFamilies].find((f) => f.prefix === indexed[0])
  if (family !== undefined) {
    return `not ${article(type)} config key: ${family.prefix} goes from ${family.prefix}0 to ${family.prefix}${
      family.count - 1
    }`
  }
  const suffix = indexed === undefined ? "0" : String(indexed[1])
  const candidates = [...Object.keys(schema.keys), ...schema.families.map((f) => `${f.prefix}${suffix}`)]
  const guess = closest(key, candidates)
  const other: GuestType = type === "qemu" ? "lxc" : "qemu"
  const hint = guess !== undefined && guess !== key
    ? ` (did you mean ${guess}?)`
    : keySpec(other, key) !== undefined
    ? ` (it is ${article(other)} key)`
    : ""
  return `not ${article(type)} config key${hint}`
}

const issueFor = (
  type: GuestType,
  key: string,
  value: DesiredScalar | null,
  current: CurrentConfig | undefined,
  writer: boolean
): string | undefined => {
  const refusal = refusalOf(type, key)
  if (refusal !== undefined) return `cannot be managed: ${refusal.reason}`
  const spec = keySpec(type, key)
  if (spec === undefined) return unknownKeyMessage(type, key)
  const held = current === undefined ? undefined : own(current, key)
  const old = held === undefined ? undefined : String(held)
  if (value === null) {
    if (spec.required === true) return `cannot be deleted: PVE refuses to delete the required option ${key}`
    // The agent deletes only a key the guest has.
    return !writer || current === undefined || old === undefined ? undefined : spec.change?.(undefined, old, current)
  }
  const checked = checkValue(spec.value, value)
  if (checked.error !== undefined) return checked.error
  if (!writer) return undefined
  const text = checked.text ?? ""
  // The agent writes only a value the guest does not hold already; PVE checks writes, not documents.
  if (current !== undefined && text === old) return undefined
  return spec.rootOnly?.(text, checked.props) ?? (current === undefined ? undefined : spec.change?.(text, old, current))
}

/** PVE's own cross-key check: "balloon value too large (must be smaller than assigned memory)". */
const balloonIssue = (config: DesiredConfigInput): ConfigIssue | undefined => {
  const memory = config["memory"]
  const balloon = config["balloon"]
  if (memory === undefined || memory === null || balloon === undefined || balloon === null) return undefined
  const current = Number(/^(?:current=)?(\d+)$/.exec(String(memory))?.[1] ?? Number.NaN)
  const target = Number(balloon)
  return Number.isFinite(current) && Number.isFinite(target) && target > current
    ? { path: "balloon", message: `must not exceed memory (${current} MiB), got ${target}` }
    : undefined
}

/** Each key's issue, then PVE's balloon-vs-memory check when neither key has one already. */
const collectIssues = (
  type: GuestType,
  config: DesiredConfigInput,
  issueOf: (key: string, value: DesiredScalar | null) => string | undefined
): ReadonlyArray<ConfigIssue> => {
  const issues: Array<ConfigIssue> = []
  for (const [key, value] of Object.entries(config)) {
    const message = issueOf(key, value)
    if (message !== undefined) issues.push({ path: key, message })
  }
  if (type === "qemu" && !issues.some((i) => i.path === "memory" || i.path === "balloon")) {
    const balloon = balloonIssue(config)
    if (balloon !== undefined) issues.push(balloon)
  }
  return issues
}

/**
 * One issue per bad key of a desired config for a guest of `type`; empty when PVE would take
 * every value. `null` asks for the key to be deleted, allowed for any key a document may name
 * except the ones PVE refuses to delete.
 *
 * PVE checks writes, and some of its rules compare the new value with the old one: which lxc
 * feature flags change, whether a host serial port, USB or PCI device root@pam set up is being
 * replaced or removed, the TPM version of an existing state volume. With `current`, the
 * guest's config as observed, those rules are checked for every key the agent would write, and
 * a value the guest already holds (which the agent never writes) passes even where only
 * root@pam could set it. Without `current`, a value is refused only for what PVE refuses
 * whatever the guest has now.
 */
export const validateConfig = (
  type: GuestType,
  config: DesiredConfigInput,
  current?: CurrentConfig
): ReadonlyArray<ConfigIssue> => collectIssues(type, config, (key, value) => issueFor(type, key, value, current, true))

/**
 * The values alone, for a guest whose config this agent does not read (one on another node,
 * whose agent judges the rest; or one whose read failed): key names, formats, ranges, the
 * cross-key memory check. Who may write a value depends on what the guest holds now, so those
 * rules (root@pam-only values, PVE's old-vs-new rules) are not applied: refusing a value the
 * guest may already hold would stop every other node's agent from acting on the document.
 */
export const validateValues = (type: GuestType, config: DesiredConfigInput): ReadonlyArray<ConfigIssue> =>
  collectIssues(type, config, (key, value) => issueFor(type, key, value, undefined, false))
