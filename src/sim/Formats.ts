/**
 * PVE's named string formats that config values are checked against, each answering the die
 * text of its validator (ending in `\n`) or undefined: pve-common `PVE::JSONSchema`
 * (`pve_verify_*`, `parse_id`, `parse_bridge_id`, `pve_parse_startup_order`, `parse_size`, `format_size`,
 * `check_format`'s `-list` handling), `PVE::ParseUtils` (`$IPV4RE`, `$IPV6RE`), `PVE::CpuSet`
 * `parse_cpuset`; pve-storage `PVE::Storage::Plugin::parse_volume_id`; qemu-server
 * `PVE::QemuServer` (`pve_verify_hotplug_features`, `verify_volume_id_or_qm_path`,
 * `verify_bootdev`, `pve_verify_cpuset`), `PVE::QemuServer::Drive::verify_bootdisk`,
 * `PVE::QemuServer::CPUConfig::parse_phys_bits`; pve-container `PVE::LXC::Config`
 * (`verify_ip_with_ll_iface`, `verify_ct_timezone`, `verify_lxc_mp_string`,
 * `verify_lxc_dev_string`). Pure, except that the time-zone list is read once from the host.
 */
import { existsSync, readFileSync } from "node:fs"
import { splitList } from "./Params.js"

export type Format = (value: string, path: string) => string | undefined

/** `check_format` of `NAME-list`: every `split_list` item must pass; an empty list passes. */
export const listOf = (each: Format): Format => (value, path) => {
  for (const item of splitList(value)) {
    const err = each(item, path)
    if (err !== undefined) return err
  }
  return undefined
}

const IPV4_OCTET = "(?:25[0-5]|(?:2[0-4]|1[0-9]|[1-9])?[0-9])"
const IPV4 = `(?:(?:${IPV4_OCTET}\\.){3}${IPV4_OCTET})`
const H16 = "(?:[0-9a-fA-F]{1,4})"
const LS32 = `(?:(?:${IPV4}|${H16}:${H16}))`
const upTo = (n: number): string => `(?:(?:${H16}:){0,${n}}${H16})?`
const IPV6 = `(?:${
  [
    `(?:(?:(?:${H16}:){6})${LS32})`,
    `(?:(?:::(?:${H16}:){5})${LS32})`,
    `(?:(?:(?:${H16})?::(?:${H16}:){4})${LS32})`,
    `(?:(?:${upTo(1)}::(?:${H16}:){3})${LS32})`,
    `(?:(?:${upTo(2)}::(?:${H16}:){2})${LS32})`,
    `(?:(?:${upTo(3)}::(?:${H16}:){1})${LS32})`,
    `(?:(?:${upTo(4)}::)${LS32})`,
    `(?:(?:${upTo(5)}::)${H16})`,
    `(?:(?:${upTo(6)}::))`
  ].join("|")
})`
const IPV4_RE = new RegExp(`^(?:${IPV4})$`)
const IPV6_RE = new RegExp(`^(?:${IPV6})$`)
const isIp = (v: string): boolean => IPV4_RE.test(v) || IPV6_RE.test(v)

const DNS_LABEL = "([a-zA-Z0-9]([a-zA-Z0-9\\-]*[a-zA-Z0-9])?)"
const DNS_RE = new RegExp(`^(${DNS_LABEL}\\.)*${DNS_LABEL}$`)

/** `CIDRv4`/`CIDRv6`: an address, `/`, and a prefix length above 7. */
const cidr = (address: RegExp, max: number) => (v: string): boolean => {
  const m = /^(.*)\/(\d+)$/.exec(v)
  if (m === null || !address.test(m[1] ?? "")) return false
  const bits = Number(m[2])
  return bits > 7 && bits <= max
}
const cidr4 = cidr(IPV4_RE, 32)
const cidr6 = cidr(IPV6_RE, 128)

const ID_RE = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i
const VOLUME_ID_RE = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$/i
const CONFIGID_RE = /^[a-z][a-z0-9_-]+$/i
const IFACE_RE = /^[a-z][a-z0-9_]{1,20}([:.]\d+)?$/i

/** `pve_parse_startup_order`: false for an empty or "0" value (Perl truthiness), or an unknown part. */
const startupOrderOk = (v: string): boolean =>
  v !== "" && v !== "0" && v.split(",").every((p) => /^\s*$/.test(p) || /^((order=)?\d+|up=\d+|down=\d+)$/.test(p))

const HOTPLUG_FEATURES = new Set(["network", "disk", "cpu", "memory", "usb", "cloudinit"])

const volumeId: Format = (v) => (VOLUME_ID_RE.test(v) ? undefined : `unable to parse volume ID '${v}'\n`)

const verifyIp: Format = (v) => (isIp(v) ? undefined : "value does not look like a valid IP address\n")

/**
 * The zones pve-common `pve_verify_timezone` accepts: "UTC" and the third column of the node's
 * /usr/share/zoneinfo/zone.tab. The simulator reads its own host's file; without one it falls
 * back to the runtime's IANA list.
 */
let zones: ReadonlySet<string> | undefined
const timeZones = (): ReadonlySet<string> => {
  if (zones !== undefined) return zones
  const path = "/usr/share/zoneinfo/zone.tab"
  const names = existsSync(path)
    ? readFileSync(path, "utf8").split("\n").filter((l) => !/^\s*#/.test(l)).map((l) => l.split("\t")[2] ?? "").filter((
      z
    ) => z !== "")
    : Intl.supportedValuesOf("timeZone")
  zones = new Set(["UTC", ...names])
  return zones
}

/** The drive keys of qemu-server `PVE::QemuServer::Drive` `$drivedesc_hash` (without unusedN). */
export const isDriveName = (key: string): boolean =>
  /^(ide[0-3]|sata[0-5]|scsi([0-9]|[12][0-9]|30)|virtio([0-9]|1[0-5])|efidisk0|tpmstate0)$/.test(key)

/** `parse_size`: digits, optional fraction, optional K/M/G/T unit (with or without `iB`). */
export const parseSize = (v: string): number | undefined => {
  const m = /^(\d+(\.\d+)?)([KMGT](?:iB)?)?$/.exec(v)
  if (m === null) return undefined
  const unit = m[3]
  const power = unit === undefined ? 0 : "KMGT".indexOf(unit.charAt(0)) + 1
  return Math.trunc(Number(m[1]) * 1024 ** power)
}

/**
 * `format_size`: the largest unit that divides the byte count exactly; 0 is "0T", as PVE's loop
 * never stops before it.
 */
export const formatSize = (bytes: number): string => {
  const kb = Math.trunc(bytes / 1024)
  if (kb * 1024 !== bytes) return String(bytes)
  const mb = Math.trunc(kb / 1024)
  if (mb * 1024 !== kb) return `${kb}K`
  const gb = Math.trunc(mb / 1024)
  if (gb * 1024 !== mb) return `${mb}M`
  const tb = Math.trunc(gb / 1024)
  return tb * 1024 !== gb ? `${gb}G` : `${tb}T`
}

/** Perl's `split(/,/, …)`: trailing empty fields are dropped. */
const perlFields = (v: string): Array<string> => {
  const parts = v.split(",")
  while (parts.length > 0 && parts[parts.length - 1] === "") parts.pop()
  return parts
}

export const pveFormats = {
  startupOrder: ((v) => (startupOrderOk(v) ? undefined : "unable to parse startup options\n")) satisfies Format,
  /** `parse_hotplug_features` dies on the first unknown feature; "0" and "1" are shorthands. */
  hotplugFeatures: ((v) => {
    if (v === "0" || v === "1") return undefined
    const bad = splitList(v).find((f) => !HOTPLUG_FEATURES.has(f))
    return bad === undefined ? undefined : `invalid hotplug feature '${bad}'\n`
  }) satisfies Format,
  storageId: ((v) =>
    [...v].length < 2
      ? `storage ID '${v}' cannot be shorter than 2 characters\n`
      : ID_RE.test(v)
      ? undefined
      : `storage ID '${v}' contains illegal characters\n`) satisfies Format,
  volumeId,
  volumeIdOrQmPath:
    ((v, p) => (v === "none" || v === "cdrom" || v.startsWith("/") ? undefined : volumeId(v, p))) satisfies Format,
  volumeIdOrAbsolutePath: ((v, p) => (v.startsWith("/") ? undefined : volumeId(v, p))) satisfies Format,
  bridgeId: ((v) => (/^[-_.\w\d]+$/.test(v) ? undefined : `invalid bridge ID '${v}'\n`)) satisfies Format,
  configId: ((v) => (CONFIGID_RE.test(v) ? undefined : `invalid configuration ID '${v}'\n`)) satisfies Format,
  macAddr: ((v) =>
    /^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$/i.test(v)
      ? undefined
      : "value does not look like a valid unicast MAC address\n") satisfies Format,
  ipv4: ((v) => (IPV4_RE.test(v) ? undefined : "value does not look like a valid IPv4 address\n")) satisfies Format,
  ipv6: ((v) => (IPV6_RE.test(v) ? undefined : "value does not look like a valid IPv6 address\n")) satisfies Format,
  ipv4Config: ((v) =>
    /^(?:dhcp|manual)$/.test(v) || cidr4(v)
      ? undefined
      : "value does not look like a valid ipv4 network configuration\n") satisfies Format,
  ipv6Config: ((v) =>
    /^(?:auto|dhcp|manual)$/.test(v) || cidr6(v)
      ? undefined
      : "value does not look like a valid ipv6 network configuration\n") satisfies Format,
  addressList: listOf((
    v
  ) => (isIp(v) || DNS_RE.test(v) ? undefined : `value does not look like a valid address: ${v}\n`)),
  dnsNameList: listOf((v) => (DNS_RE.test(v) ? undefined : "value does not look like a valid DNS name\n")),
  diskSize: ((
    v
  ) => (parseSize(v) === undefined
    ? `value does not look like a valid disk size: ${v}\n`
    : undefined)) satisfies Format,
  urlencoded:
    ((v) => (/^[-%a-zA-Z0-9_.!~*'()]*$/.test(v) ? undefined : `invalid urlencoded string: ${v}\n`)) satisfies Format,
  /** `pve_verify_cpuset` answers its own text whatever `parse_cpuset` died of. */
  cpuset: ((v) =>
    perlFields(v).every((part) => {
        const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part)
        return m !== null && Number(m[2] ?? m[1]) >= Number(m[1])
      })
      ? undefined
      : "unable to parse cpuset option\n") satisfies Format,
  bootdisk: ((v) => (isDriveName(v) ? undefined : `invalid boot disk '${v}'\n`)) satisfies Format,
  /** `verify_bootdev`: a drive but efidisk/tpmstate, or an existing netN/usbN/hostpciN key. */
  bootdevList: listOf((v) =>
    (isDriveName(v) && !/^(efidisk|tpmstate)/.test(v)) ||
      /^(net([0-9]|[12][0-9]|3[01])|usb([0-9]|1[0-3])|hostpci([0-9]|1[0-5]))$/.test(v)
      ? undefined
      : `invalid boot device '${v}'\n`
  ),
  physBits: ((v) =>
    /^(host|\d{1,2})$/.test(v) && (v === "host" || (Number(v) >= 8 && Number(v) <= 64))
      ? undefined
      : "value must be an integer between 8 and 64 or 'host'\n") satisfies Format,
  /** `verify_ip_with_ll_iface`: `fe80:…%IFACE` when both halves are valid, else a plain IP. */
  ipWithLlIfaceList: listOf((v, p) => {
    const m = /^(fe80:[^%]+)%(.*)$/.exec(v)
    return m !== null && isIp(m[1] ?? "") && IFACE_RE.test(m[2] ?? "") ? undefined : verifyIp(v, p)
  }),
  ctTimezone: ((v) => (v === "host" || timeZones().has(v) ? undefined : `invalid time zone '${v}'\n`)) satisfies Format,
  lxcMpString: ((
    v
  ) => (/\/\.\.?\//.test(v) || /\/\.\.?$/.test(v) || /^\.\.\//.test(v)
    ? `${v} contains illegal character sequences\n`
    : undefined)) satisfies Format,
  lxcDevString: ((
    v
  ) => (/\/\.\.?(?:\/|$)/.test(v) || !v.startsWith("/dev/")
    ? `${v} is not a valid device path\n`
    : undefined)) satisfies Format
} as const
