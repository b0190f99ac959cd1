/**
 * Scalar families: booleans, numbers, description text, tags, sshkeys and the exact fallback.
 * Each mirrors what PVE does to the value between write and read (sources at each one).
 */
import { splitList } from "../../domain/configSchema/formats.js"
import type { FieldNormalizer, InputValue, NormalizeContext } from "./types.js"

/**
 * A top-level boolean the way PVE's API takes it: pve-common `PVE::JSONSchema::check_type`
 * accepts only "1" and "0" (or a JSON true/false) for a `boolean` parameter, so "yes", "true"
 * or " 1" stay as they are: they never equal 1/0, and the config-key table refuses them at plan
 * time (src/domain/configSchema/check.ts). Only a document can hold such a word: PVE reads every
 * stored boolean back as 1/0 (qemu-server `PVE::QemuServer::check_type`, pve-container
 * `PVE::LXC::Config::check_type`).
 */
export const normalizeBit = (value: InputValue): string => {
  if (typeof value === "boolean") return value ? "1" : "0"
  return String(value)
}

/**
 * A boolean inside a property string: pve-common `PVE::JSONSchema::parse_property_string` runs it
 * through `parse_boolean` (1/on/yes/true and 0/off/no/false, any case, nothing trimmed) before
 * `check_type` sees it; anything else stays as it is.
 */
export const parseBoolean = (value: string): string =>
  /^(1|on|yes|true)$/i.test(value) ? "1" : /^(0|off|no|false)$/i.test(value) ? "0" : value

/**
 * Numbers and numeric strings compare by value ("4" ≡ 4, "1.50" ≡ 1.5); PVE reads integers as
 * JSON numbers and `cpulimit` as a string (qemu-server `PVE::QemuServer::check_type`).
 */
export const normalizeNumber = (value: InputValue): string => {
  if (typeof value === "boolean") return value ? "1" : "0"
  if (typeof value === "number") return String(value)
  const trimmed = value.trim()
  const n = Number(trimmed)
  return trimmed !== "" && Number.isFinite(n) ? String(n) : value
}

export const booleanField = (absent?: "0" | "1"): FieldNormalizer => ({
  family: "boolean",
  normalize: normalizeBit,
  // PVE reads booleans back as 1/0 or leaves them out when never set (`PVE::QemuServer::check_type`).
  ...(absent === undefined ? {} : { absent }),
  // Documents may say true/false; PVE's form parameters take only 1/0 (pve-common `PVE::JSONSchema::check_type`).
  toWrite: (desired) => {
    const bit = normalizeBit(desired)
    return bit === "1" ? 1 : bit === "0" ? 0 : desired
  }
})

export const numberField = (absent?: number): FieldNormalizer => ({
  family: "number",
  normalize: normalizeNumber,
  ...(absent === undefined ? {} : { absent: String(absent) })
})

/**
 * qemu description: PVE strips trailing whitespace on read (qemu-server
 * `PVE::QemuServer::parse_vm_config`); CRLF (also
 * `\r\r\n`, so one pass is a fixed point) is folded to LF on both sides.
 */
export const qemuDescription: FieldNormalizer = {
  family: "description",
  normalize: (value) => String(value).replace(/\r+\n/g, "\n").trimEnd(),
  // An empty description is not written at all, so "" and absent are the same (`write_vm_config`).
  absent: ""
}

/** lxc description: read back with exactly one trailing `\n` (`PVE::LXC::Config::parse_pct_config`). */
export const lxcDescription: FieldNormalizer = {
  family: "description",
  normalize: (value) => String(value).trimEnd(),
  absent: ""
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** PVE's `get_unique_tags` (pve-guest-common `PVE::GuestHelpers`) under the datacenter tag-style. */
export const normalizeTags = (value: InputValue, ctx: NormalizeContext): string => {
  const style = ctx.tagStyle
  const raw = String(value).split(/[;,\s\u0000]+/).filter((t) => t !== "")
  const cased = style.caseSensitive ? raw : raw.map((t) => t.toLowerCase())
  const unique = [...new Set(cased)]
  if (style.ordering === "alphabetical") unique.sort(byCodeUnit)
  return unique.join(";")
}

export const tagsField: FieldNormalizer = {
  family: "tags",
  normalize: normalizeTags,
  // No tags and an empty tag list are the same state (cleared with delete=tags).
  absent: ""
}

const decodeFully = (s: string): string => {
  let current = s
  for (let i = 0; i < 8; i++) {
    let next: string
    try {
      next = decodeURIComponent(current)
    } catch {
      return current
    }
    if (next === current) return current
    current = next
  }
  return current
}

/**
 * qemu `sshkeys` are stored URL-encoded (format `urlencoded` in qemu-server `PVE::QemuServer`
 * `$confdesc_cloudinit`), and clients differ in how they encode: compare the decoded keys.
 */
export const sshkeysField: FieldNormalizer = {
  family: "sshkeys",
  normalize: (value) => decodeFully(String(value)).replace(/\r+\n/g, "\n").trimEnd()
}

/**
 * lxc `nameserver` and `searchdomain`: pve-container `PVE::LXC::Config::update_pct_config` stores
 * `PVE::LXC::verify_nameserver_list` / `verify_searchdomain_list` of the value, which is the
 * items of pve-common `PVE::Tools::split_list` joined by one space: "1.1.1.1,8.8.8.8",
 * "1.1.1.1; 8.8.8.8" and "1.1.1.1  8.8.8.8" are all stored as "1.1.1.1 8.8.8.8", order and
 * repeats kept. Splitting the joined text once more changes nothing for a list PVE accepts (its
 * items hold no separator) and makes any other input a fixed point too.
 */
export const lxcDnsListField: FieldNormalizer = {
  family: "dns-list",
  normalize: (value) => splitList(splitList(String(value)).join(" ")).join(" ")
}

/** Unknown keys: what PVE stores is what it reads back, so compare the text exactly. */
export const exactField: FieldNormalizer = {
  family: "exact",
  normalize: (value: InputValue): string => String(value)
}
