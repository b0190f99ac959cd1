/**
 * Scalar families: booleans, numbers, description text, tags, sshkeys and the exact fallback.
 * Each mirrors what PVE does to the value between write and read (sources at each one).
 */
import type { FieldNormalizer, InputValue, NormalizeContext } from "./types.js"

const TRUE_WORDS = new Set(["1", "true", "yes", "on"])
const FALSE_WORDS = new Set(["0", "false", "no", "off"])

/** "1"/"0" for anything PVE's boolean type would read back as 1/0; other input unchanged. */
export const normalizeBit = (value: InputValue): string => {
  if (typeof value === "boolean") return value ? "1" : "0"
  const word = String(value).trim().toLowerCase()
  if (TRUE_WORDS.has(word)) return "1"
  if (FALSE_WORDS.has(word)) return "0"
  return String(value)
}

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
  // Documents may say true/"true"; PVE only accepts 1/0 (pve-common `PVE::JSONSchema::check_type`).
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

/** Unknown keys: what PVE stores is what it reads back, so compare the text exactly. */
export const exactField: FieldNormalizer = {
  family: "exact",
  normalize: (value: InputValue): string => String(value)
}
