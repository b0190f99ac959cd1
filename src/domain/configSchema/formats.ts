/**
 * The string formats PVE checks config values against, re-stated from its Perl validators so
 * a desired document is refused before any request is made. Each check returns the problem in
 * words, or `undefined` when PVE would accept the value. Pure, no I/O.
 *
 * Sources (proxmox/pve-common unless said): PVE::JSONSchema (`pve_verify_*`, `parse_id`,
 * `parse_bridge_id`, `$PVE_TAG_RE`, `pve_parse_startup_order`, `parse_size`), PVE::ParseUtils
 * (`split_list`, `$IPV4RE`, `$IPV6RE`), PVE::CpuSet `parse_cpuset`; pve-storage
 * PVE::Storage::Plugin `parse_volume_id`; qemu-server PVE::QemuServer `parse_hotplug_features`,
 * `verify_volume_id_or_qm_path`, `verify_volume_id_or_absolute_path`;
 * pve-container PVE::LXC::Config `verify_ip_with_ll_iface`, `verify_lxc_mp_string`,
 * `verify_lxc_dev_string`, `verify_ct_timezone`.
 */

/** Every named format; a test maps each to a generator of values PVE accepts. */
export type FormatName =
  | "dns-name"
  | "dns-name-list"
  | "tag-list"
  | "startup-order"
  | "hotplug-features"
  | "storage-id"
  | "volume-id"
  | "bridge-id"
  | "configid"
  | "mac-addr"
  | "cpuset"
  | "ipv4"
  | "ipv6"
  | "ipv4-config"
  | "ipv6-config"
  | "address-list"
  | "ip-ll-iface-list"
  | "urlencoded"
  | "ct-timezone"
  | "lxc-mp-string"
  | "lxc-dev-string"
  | "disk-size"
  | "qm-bootdev-list"
  | "qm-bootdisk"
  | "volume-id-or-qm-path"
  | "volume-id-or-absolute-path"
  | "phys-bits"
  | "ssh-public-keys"

export interface Format {
  readonly name: FormatName
  readonly check: (value: string) => string | undefined
}

const fmt = (name: FormatName, check: (value: string) => string | undefined): Format => ({ name, check })
const q = (s: string): string => JSON.stringify(s)

/**
 * PVE's `split_list`: a value containing NUL splits on NUL only; otherwise `,` and `;` count
 * as whitespace and the list splits on whitespace runs.
 */
export const splitList = (text: string): Array<string> => {
  if (text.includes("\0")) return text.split("\0")
  return text.replace(/[,;]/g, " ").trim().split(/\s+/).filter((s) => s !== "")
}

/** Every element of a `*-list` format must pass `each` (an empty list is allowed, as in PVE). */
const listOf = (each: (item: string) => string | undefined) => (value: string): string | undefined => {
  for (const item of splitList(value)) {
    const bad = each(item)
    if (bad !== undefined) return bad
  }
  return undefined
}

const LABEL = "([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)"
const DNS_RE = new RegExp(`^(${LABEL}\\.)*${LABEL}$`)
const dnsName = (
  v: string
) => (DNS_RE.test(v)
  ? undefined
  : `${q(v)} is not a DNS name (letters, digits and inner hyphens, dot-separated; no underscores)`)

const TAG_RE = /^[a-z0-9_][a-z0-9_+.-]*$/i
const tag = (t: string) =>
  TAG_RE.test(t)
    ? undefined
    : `invalid tag ${q(t)}: a tag starts with a letter, digit or _ and continues with letters, digits, _ - + .`

/** `[[order=]N][,up=N][,down=N]`; PVE rejects an empty or "0" value (`return undef if !$value`). */
const startupOrder = (v: string): string | undefined => {
  const bad = `${q(v)} is not a startup order: expected [order=]N, up=N, down=N separated by commas`
  if (v === "" || v === "0") return bad
  for (const part of v.split(",")) {
    if (/^\s*$/.test(part)) continue
    if (!/^((order=)?\d+|up=\d+|down=\d+)$/.test(part)) return bad
  }
  return undefined
}

const HOTPLUG = new Set(["network", "disk", "cpu", "memory", "usb", "cloudinit"])
const hotplug = (v: string): string | undefined => {
  if (v === "0" || v === "1") return undefined
  const bad = splitList(v).find((f) => !HOTPLUG.has(f))
  return bad === undefined
    ? undefined
    : `invalid hotplug feature ${q(bad)} (one of network, disk, cpu, memory, usb, cloudinit; or 0 / 1)`
}

const ID_RE = /^[a-z][a-z0-9_.-]*[a-z0-9]$/i
const storageId = (v: string) =>
  v.length >= 2 && ID_RE.test(v)
    ? undefined
    : `${q(v)} is not a storage ID (at least 2 characters, a letter first, letters, digits, - _ .)`
const volumeId = (v: string) => {
  const m = /^([^:]*):(.+)$/s.exec(v)
  return m !== null && ID_RE.test(m[1] ?? "") ? undefined : `${q(v)} is not a volume ID (STORAGE:VOLUME)`
}

/** A path on the node, or a storage volume (`pve-volume-id-or-absolute-path`). */
const volumeIdOrAbsolutePath = (v: string) =>
  v.startsWith("/") || volumeId(v) === undefined
    ? undefined
    : `${q(v)} is neither a volume ID (STORAGE:VOLUME) nor an absolute path`

const IPV4_OCTET = "(?:25[0-5]|(?:2[0-4]|1[0-9]|[1-9])?[0-9])"
const IPV4 = `(?:(?:${IPV4_OCTET}\\.){3}${IPV4_OCTET})`
// RFC 3986 `IPv6address`, the grammar PVE::ParseUtils `$IPV6RE` spells out.
const H16 = "[0-9a-fA-F]{1,4}"
const LS32 = `(?:${H16}:${H16}|${IPV4})`
const upTo = (n: number) => (n < 0 ? "" : `(?:(?:${H16}:){0,${n}}${H16})?`)
const IPV6 = `(?:${
  [
    `(?:${H16}:){6}${LS32}`,
    `::(?:${H16}:){5}${LS32}`,
    `${upTo(0)}::(?:${H16}:){4}${LS32}`,
    `${upTo(1)}::(?:${H16}:){3}${LS32}`,
    `${upTo(2)}::(?:${H16}:){2}${LS32}`,
    `${upTo(3)}::${H16}:${LS32}`,
    `${upTo(4)}::${LS32}`,
    `${upTo(5)}::${H16}`,
    `${upTo(6)}::`
  ].join("|")
})`
const IPV4_RE = new RegExp(`^${IPV4}$`)
const IPV6_RE = new RegExp(`^${IPV6}$`)
const ipv4 = (v: string) => (IPV4_RE.test(v) ? undefined : `${q(v)} is not an IPv4 address`)
const ipv6 = (v: string) => (IPV6_RE.test(v) ? undefined : `${q(v)} is not an IPv6 address`)
const ip = (v: string) => (IPV4_RE.test(v) || IPV6_RE.test(v) ? undefined : `${q(v)} is not an IP address`)

/** `ADDRESS/PREFIX` with 8 ≤ prefix ≤ max (PVE `pve_verify_cidrv4`/`pve_verify_cidrv6`). */
const cidr = (re: RegExp, max: number) => (v: string): boolean => {
  const slash = v.lastIndexOf("/")
  if (slash < 0 || !re.test(v.slice(0, slash)) || !/^\d+$/.test(v.slice(slash + 1))) return false
  const prefix = Number(v.slice(slash + 1))
  return prefix > 7 && prefix <= max
}
const cidr4 = cidr(IPV4_RE, 32)
const cidr6 = cidr(IPV6_RE, 128)

/** Linux cpuset: `N` or `N-M` (M ≥ N), comma-separated; trailing empty parts are dropped as by Perl's split. */
const cpuset = (v: string): string | undefined => {
  const parts = v.split(",")
  while (parts.length > 0 && parts[parts.length - 1] === "") parts.pop()
  if (parts.length === 0) return `${q(v)} is not a CPU set (e.g. 0,5,8-11)`
  for (const part of parts) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part)
    if (m === null || Number(m[2] ?? m[1]) < Number(m[1])) {
      return `${q(v)} is not a CPU set (e.g. 0,5,8-11): bad range ${q(part)}`
    }
  }
  return undefined
}

const IFACE_RE = /^[a-z][a-z0-9_]{1,20}([:.]\d+)?$/i
const ipWithLlIface = (v: string) => {
  const m = /^(fe80:[^%]+)%(.*)$/.exec(v)
  if (m !== null && IPV6_RE.test(m[1] ?? "") && IFACE_RE.test(m[2] ?? "")) return undefined
  return ip(v)
}

const BAD_PATH_RE = /\/\.\.?\/|\/\.\.?$|^\.\.\//

export const FORMATS = {
  dnsName: fmt("dns-name", dnsName),
  dnsNameList: fmt("dns-name-list", listOf(dnsName)),
  tagList: fmt("tag-list", listOf(tag)),
  startupOrder: fmt("startup-order", startupOrder),
  hotplugFeatures: fmt("hotplug-features", hotplug),
  storageId: fmt("storage-id", storageId),
  volumeId: fmt("volume-id", volumeId),
  bridgeId: fmt("bridge-id", (v) => (/^[-_.A-Za-z0-9]+$/.test(v) ? undefined : `${q(v)} is not a bridge name`)),
  configId: fmt("configid", (v) => (/^[a-z][a-z0-9_-]+$/i.test(v) ? undefined : `${q(v)} is not a configuration ID`)),
  macAddr: fmt(
    "mac-addr",
    (v) =>
      /^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$/i.test(v)
        ? undefined
        : `${q(v)} is not a unicast MAC address (XX:XX:XX:XX:XX:XX, I/G bit clear)`
  ),
  cpuset: fmt("cpuset", cpuset),
  ipv4: fmt("ipv4", ipv4),
  ipv6: fmt("ipv6", ipv6),
  ipv4Config: fmt(
    "ipv4-config",
    (
      v
    ) => (/^(dhcp|manual)$/.test(v) || cidr4(v) ? undefined : `${q(v)} is not dhcp, manual or IPv4/CIDR (prefix 8..32)`)
  ),
  ipv6Config: fmt(
    "ipv6-config",
    (v) => (/^(auto|dhcp|manual)$/.test(v) || cidr6(v)
      ? undefined
      : `${q(v)} is not auto, dhcp, manual or IPv6/CIDR (prefix 8..128)`)
  ),
  addressList: fmt(
    "address-list",
    listOf((
      a
    ) => (ip(a) === undefined || dnsName(a) === undefined ? undefined : `${q(a)} is not an IP address or DNS name`))
  ),
  ipLlIfaceList: fmt("ip-ll-iface-list", listOf(ipWithLlIface)),
  urlencoded: fmt(
    "urlencoded",
    (v) => (/^[-%a-zA-Z0-9_.!~*'()]*$/.test(v) ? undefined : "must be URL-encoded (PVE stores it percent-encoded)")
  ),
  // PVE checks the name against the node's /usr/share/zoneinfo/zone.tab; only its shape is checked here.
  ctTimezone: fmt(
    "ct-timezone",
    (v) =>
      v === "host" || v === "UTC" || /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)+$/.test(v)
        ? undefined
        : `${q(v)} is not "host" or a zone.tab time zone such as Europe/Vienna`
  ),
  lxcMpString: fmt(
    "lxc-mp-string",
    (v) => (BAD_PATH_RE.test(v) ? `${q(v)} contains /./, /../ or a leading ../` : undefined)
  ),
  lxcDevString: fmt(
    "lxc-dev-string",
    (v) => /\/\.\.?(?:\/|$)/.test(v) || !v.startsWith("/dev/") ? `${q(v)} is not a device path under /dev/` : undefined
  ),
  // A drive's file: also "none" (no medium) and "cdrom" (the node's CD-ROM drive).
  volumeIdOrQmPath: fmt(
    "volume-id-or-qm-path",
    (v) =>
      v === "none" || v === "cdrom" || volumeIdOrAbsolutePath(v) === undefined
        ? undefined
        : `${q(v)} is not a volume ID (STORAGE:VOLUME, or STORAGE:SIZE for a new disk), an absolute path, none or cdrom`
  ),
  volumeIdOrAbsolutePath: fmt("volume-id-or-absolute-path", volumeIdOrAbsolutePath),
  diskSize: fmt(
    "disk-size",
    (v) => (/^\d+(\.\d+)?([KMGT](iB)?)?$/.test(v) ? undefined : `${q(v)} is not a disk size (e.g. 8G)`)
  )
} as const

export const makeFormat = fmt
