/**
 * The lxc config keys as the config API declares them: pve-container `PVE::LXC::Config`
 * `$confdesc` with `$netconf_desc` (`$MAX_LXC_NETWORKS`), `$rootfs_desc`, `$mp_desc`
 * (`$MAX_MOUNT_POINTS`), `$unused_desc` (`$MAX_UNUSED_DISKS`), `$dev_desc` (`$MAX_DEVICES`) and
 * `$features_desc`. The PUT config parameters are `json_config_properties`: every key but
 * `parent` and `snaptime`. Pure.
 */
import { pveFormats } from "./Formats.js"
import { formats, type ParamSpec } from "./Params.js"
import { propertyFormat, type PropFormat, type SubSpec } from "./PropertyFormat.js"

const ostr = (extra: Partial<SubSpec> = {}): SubSpec => ({ type: "string", optional: true, ...extra })
const obool: SubSpec = { type: "boolean", optional: true }
const oint = (minimum?: number, maximum?: number): SubSpec => ({
  type: "integer",
  optional: true,
  ...(minimum === undefined ? {} : { minimum }),
  ...(maximum === undefined ? {} : { maximum })
})
const props = (format: PropFormat): ParamSpec => ({ type: "string", format: propertyFormat(format) })

const ID = "[-_.\\w\\d]+"
export const lxcNetFormat: PropFormat = {
  type: ostr({ enum: ["veth"] }),
  name: { type: "string", pattern: ID },
  bridge: ostr({ pattern: ID }),
  hwaddr: ostr({ format: pveFormats.macAddr }),
  mtu: oint(64, 65535),
  ip: ostr({ format: pveFormats.ipv4Config }),
  gw: ostr({ format: pveFormats.ipv4 }),
  ip6: ostr({ format: pveFormats.ipv6Config }),
  gw6: ostr({ format: pveFormats.ipv6 }),
  firewall: obool,
  tag: oint(1, 4094),
  trunks: ostr({ pattern: "(?:\\d+(?:;\\d+)*)" }),
  rate: { type: "number", optional: true },
  link_down: obool,
  "host-managed": obool
}

const MOUNT_OPTION = "(?:(discard|lazytime|noatime|nodev|noexec|nosuid))"
const IDMAP_ENTRY = "[ug]:[0-9]+:[0-9]+:[1-9][0-9]*"
const rootfsFormat: PropFormat = {
  volume: { type: "string", defaultKey: true, format: pveFormats.lxcMpString },
  size: ostr({ format: pveFormats.diskSize }),
  acl: obool,
  mountoptions: ostr({ pattern: `(?:${MOUNT_OPTION}(;${MOUNT_OPTION})*)` }),
  idmap: ostr({ pattern: `(?:^(?:passthrough|${IDMAP_ENTRY}(?:;${IDMAP_ENTRY})*)$)` }),
  ro: obool,
  quota: obool,
  replicate: obool,
  shared: obool
}

const mpFormat: PropFormat = {
  ...rootfsFormat,
  backup: obool,
  mp: { type: "string", format: pveFormats.lxcMpString },
  keepattrs: obool
}

export const lxcFeaturesFormat: PropFormat = {
  mount: ostr({ pattern: "(?:[a-zA-Z0-9_; ]+)" }),
  nesting: obool,
  keyctl: obool,
  fuse: obool,
  mknod: obool,
  force_rw_sys: obool
}

const unusedFormat: PropFormat = { volume: { type: "string", defaultKey: true, format: pveFormats.volumeId } }

const devFormat: PropFormat = {
  path: ostr({ defaultKey: true, format: pveFormats.lxcDevString }),
  mode: ostr({ pattern: "0[0-7]{3}" }),
  uid: oint(0),
  gid: oint(0),
  "deny-write": obool
}

/** The formats whose value names a volume, a bind mount or a device (`classify_mountpoint`). */
export const lxcVolumeFormat = (key: string): PropFormat | undefined =>
  key === "rootfs" ? rootfsFormat : /^mp\d+$/.test(key) ? mpFormat : undefined

const b: ParamSpec = { type: "boolean" }
const s = (extra: Partial<ParamSpec> = {}): ParamSpec => ({ type: "string", ...extra })
const int = (minimum?: number, maximum?: number): ParamSpec => oint(minimum, maximum)
// No control characters but tab.
const NO_CONTROL = "[^\\x00-\\x08\\x0a-\\x1F\\x7F]"

const KEYS: Readonly<Record<string, ParamSpec>> = {
  lock: s({
    enum: [
      "backup",
      "create",
      "destroyed",
      "disk",
      "fstrim",
      "migrate",
      "mounted",
      "rollback",
      "snapshot",
      "snapshot-delete"
    ]
  }),
  onboot: b,
  startup: s({ format: pveFormats.startupOrder }),
  template: b,
  arch: s({ enum: ["amd64", "i386", "arm64", "armhf", "riscv32", "riscv64"] }),
  ostype: s({
    enum: [
      "debian",
      "devuan",
      "ubuntu",
      "centos",
      "fedora",
      "opensuse",
      "archlinux",
      "alpine",
      "gentoo",
      "nixos",
      "unmanaged"
    ]
  }),
  console: b,
  tty: int(0, 6),
  cores: int(1, 8192),
  cpulimit: { type: "number", minimum: 0, maximum: 8192 },
  cpuunits: int(0, 500000),
  memory: int(16),
  swap: int(0),
  hostname: s({ format: formats.dnsName, maxLength: 255 }),
  description: s({ maxLength: 8192 }),
  searchdomain: s({ format: pveFormats.dnsNameList }),
  nameserver: s({ format: pveFormats.ipWithLlIfaceList }),
  timezone: s({ format: pveFormats.ctTimezone }),
  rootfs: props(rootfsFormat),
  cmode: s({ enum: ["shell", "console", "tty"] }),
  entrypoint: s({ pattern: `(?:${NO_CONTROL}+)` }),
  protection: b,
  unprivileged: b,
  features: props(lxcFeaturesFormat),
  env: s({ pattern: `(?:(?:\\w+=${NO_CONTROL}*)(?:\\0\\w+=${NO_CONTROL}*)*)` }),
  hookscript: s({ format: pveFormats.volumeId }),
  tags: s({ format: formats.tagList }),
  debug: b
}

/** `$confdesc` keys `json_config_properties` leaves out of the config API: deletable, never set. */
const INTERNAL: Readonly<Record<string, ParamSpec>> = {
  parent: s({ format: formats.snapshotName, maxLength: 40 }),
  snaptime: int(0)
}

const UP_TO_255 = "([0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])"
const FAMILIES: ReadonlyArray<readonly [RegExp, ParamSpec]> = [
  [/^net([0-9]|[12][0-9]|3[01])$/, props(lxcNetFormat)],
  [new RegExp(`^mp${UP_TO_255}$`), props(mpFormat)],
  [new RegExp(`^unused${UP_TO_255}$`), props(unusedFormat)],
  [new RegExp(`^dev${UP_TO_255}$`), props(devFormat)]
]

const own = (record: Readonly<Record<string, ParamSpec>>, key: string): ParamSpec | undefined =>
  Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined

/** The spec of a key the lxc config API takes a value for. */
export const lxcSettableSpec = (key: string): ParamSpec | undefined =>
  own(KEYS, key) ?? FAMILIES.find(([re]) => re.test(key))?.[1]

/** The spec of any `$confdesc` key (`option_exists`), settable or not. */
export const lxcOptionSpec = (key: string): ParamSpec | undefined => lxcSettableSpec(key) ?? own(INTERNAL, key)
