/**
 * Property strings (`k=v,k=v`, one optional default key): qemu `memory`, `agent`, `startup`,
 * lxc `features` and both guests' `netN`. PVE re-prints them in its own key order with
 * booleans as 1/0 (pve-common `PVE::JSONSchema::print_property_string`), so they compare as maps.
 */
import { keySpec } from "../../domain/configSchema.js"
import type { GuestType } from "../../domain/Guest.js"
import { normalizeNumber, parseBoolean } from "./scalars.js"
import type { FieldNormalizer, InputValue } from "./types.js"

export type PropertyMap = Map<string, string>

/**
 * The sub-keys the config-key table (src/domain/configSchema) declares boolean for `key`, so a
 * property string's booleans are read the way PVE's `parse_boolean` reads them wherever the
 * table checks them; none for a key that is not a property string there.
 */
export const booleanSubKeys = (type: GuestType, key: string): ReadonlyArray<string> => {
  const value = keySpec(type, key)?.value
  if (value?.kind !== "property-string" || value.properties === undefined) return []
  const { aliases = {}, keys } = value.properties
  const isBoolean = (k: string): boolean => Object.prototype.hasOwnProperty.call(keys, k) && keys[k]?.type === "boolean"
  // An alias is read as its target (`freeze-fs-on-backup` is `freeze-fs`), booleans included.
  return [
    ...Object.keys(keys).filter(isBoolean),
    ...Object.keys(aliases).filter((a) => isBoolean(aliases[a]?.target ?? ""))
  ]
}

/**
 * The aliases the config-key table declares for `key`'s sub-keys, alias → target (a drive's
 * `volume` → `file`, `bps_rd_length` → `bps_rd_max_length`): pve-common
 * `PVE::JSONSchema::parse_property_string` files a value under its target, so PVE stores and
 * reads back only the target.
 */
export const aliasTargets = (type: GuestType, key: string): ReadonlyMap<string, string> => {
  const value = keySpec(type, key)?.value
  if (value?.kind !== "property-string" || value.properties === undefined) return new Map()
  return new Map(Object.entries(value.properties.aliases ?? {}).map(([alias, { target }]) => [alias, target]))
}

/**
 * Splits a property string; a bare part is the default key's value, or else a flag with an
 * empty value (printed back as `k=`, so a canonical string re-parses to the same map).
 */
export const parseProperties = (text: string, defaultKey?: string): PropertyMap => {
  const map: PropertyMap = new Map()
  for (const rawPart of text.split(",")) {
    const part = rawPart.trim()
    if (part === "") continue
    const eq = part.indexOf("=")
    if (eq < 0) {
      if (defaultKey !== undefined && !map.has(defaultKey)) map.set(defaultKey, part)
      else map.set(part, "")
    } else {
      map.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim())
    }
  }
  return map
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** Canonical text of a map: keys sorted, always `k=v`. */
export const printCanonical = (map: PropertyMap): string =>
  [...map.entries()]
    .sort(([a], [b]) => byCodeUnit(a, b))
    .map(([k, v]) => `${k}=${v}`)
    .join(",")

export interface PropertySpec {
  readonly family: string
  readonly defaultKey?: string
  readonly booleans?: ReadonlyArray<string>
  readonly numbers?: ReadonlyArray<string>
  /**
   * Sub-keys compared case-insensitively (MAC addresses: PVE keeps the user's case,
   * `PVE::QemuServer::Network::parse_net`).
   */
  readonly upper?: ReadonlyArray<string>
  /** Sub-key values equal to PVE's default: dropped, so `firewall=0` ≡ no `firewall`. */
  readonly dropDefaults?: Readonly<Record<string, string>>
  /** Sub-keys PVE adds when missing (lxc `type=veth`, pve-container `PVE::LXC::Config::parse_lxc_network`). */
  readonly fill?: Readonly<Record<string, string>>
}

const normalizeSubValue = (spec: PropertySpec, key: string, value: string): string => {
  if (spec.booleans?.includes(key) === true) return parseBoolean(value)
  if (spec.numbers?.includes(key) === true) return normalizeNumber(value)
  if (spec.upper?.includes(key) === true) return value.toUpperCase()
  return value
}

/** Normalizes each sub-value by its kind, drops defaults and adds the filled keys. */
export const canonicalizeMap = (spec: PropertySpec, parsed: PropertyMap): PropertyMap => {
  const out: PropertyMap = new Map()
  for (const [k, v] of parsed) {
    const value = normalizeSubValue(spec, k, v)
    if (spec.dropDefaults?.[k] !== value) out.set(k, value)
  }
  for (const [k, v] of Object.entries(spec.fill ?? {})) if (!out.has(k)) out.set(k, v)
  return out
}

export const canonicalMap = (spec: PropertySpec, text: string): PropertyMap =>
  canonicalizeMap(spec, parseProperties(text, spec.defaultKey))

export const propertyField = (spec: PropertySpec, absent?: string): FieldNormalizer => ({
  family: spec.family,
  normalize: (value: InputValue) => printCanonical(canonicalMap(spec, String(value))),
  ...(absent === undefined ? {} : { absent: printCanonical(canonicalMap(spec, absent)) })
})

/**
 * qemu `memory`: `2048` ≡ `"2048"` ≡ `current=2048` (a property string since qemu-server 8.0.8,
 * PVE 8.1: `PVE::QemuServer::Memory` `$memory_fmt`).
 */
export const qemuMemory = propertyField(
  { family: "memory", defaultKey: "current", numbers: ["current"] },
  // PVE's default memory is 512 MiB (qemu-server `PVE::QemuServer::Memory`).
  "512"
)

/** qemu `agent`: a property string with default key `enabled`: "1" ≡ "enabled=1"; absent means off. */
export const qemuAgent = propertyField(
  {
    family: "agent",
    defaultKey: "enabled",
    booleans: booleanSubKeys("qemu", "agent"),
    dropDefaults: { fstrim_cloned_disks: "0", "freeze-fs-on-backup": "1", "freeze-fs": "1", type: "virtio" }
  },
  "0"
)

export const qemuStartup = propertyField({ family: "startup", defaultKey: "order", numbers: ["order", "up", "down"] })

export const lxcFeatures = propertyField({
  family: "features",
  booleans: booleanSubKeys("lxc", "features"),
  dropDefaults: { nesting: "0", keyctl: "0", fuse: "0", mknod: "0", force_rw_sys: "0" }
})
