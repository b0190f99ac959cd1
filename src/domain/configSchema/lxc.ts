/**
 * The lxc config keys a desired document may name, read from pve-container (6.1.10):
 * PVE::LXC::Config `$confdesc` (scalars, limits, enums), `$netconf_desc` with
 * `$MAX_LXC_NETWORKS`, `$rootfs_desc`/`$mp_desc` with `$MAX_MOUNT_POINTS`, `$dev_desc` with
 * `$MAX_DEVICES`, `$MAX_UNUSED_DISKS` (`$features_desc` in lxcFeatures.ts); what cannot be
 * changed or deleted: PVE::LXC::Config `update_pct_config` and `json_config_properties`; who
 * may set what: PVE::LXC `check_ct_modify_config_perm`.
 */
import { FORMATS } from "./formats.js"
import { FEATURES } from "./lxcFeatures.js"
import {
  bool,
  type GuestConfigSchema,
  int,
  num,
  oneOf,
  type PropertyFormat,
  props,
  refuse,
  str,
  type SubSpec
} from "./spec.js"

const ID_PATTERN = /^[-_.\w]+$/

const net: PropertyFormat = {
  keys: {
    name: { type: "string", pattern: ID_PATTERN, required: true },
    type: { type: "string", enum: ["veth"] },
    bridge: { type: "string", pattern: ID_PATTERN },
    hwaddr: { type: "string", format: FORMATS.macAddr },
    mtu: { type: "integer", minimum: 64, maximum: 65535 },
    ip: { type: "string", format: FORMATS.ipv4Config },
    gw: { type: "string", format: FORMATS.ipv4 },
    ip6: { type: "string", format: FORMATS.ipv6Config },
    gw6: { type: "string", format: FORMATS.ipv6 },
    firewall: { type: "boolean" },
    tag: { type: "integer", minimum: 1, maximum: 4094 },
    trunks: { type: "string", pattern: /^\d+(?:;\d+)*$/ },
    rate: { type: "number", unit: "MB/s" },
    link_down: { type: "boolean" },
    "host-managed": { type: "boolean" }
  },
  // PVE::LXC::Config `update_pct_config`: with host-managed, the node configures the address itself.
  validate: (n) =>
    n.get("link_down") !== "1" && n.get("host-managed") === "1" && n.get("ip6") === "auto"
      ? "ip6=auto (SLAAC) does not go with host-managed=1: give an address, dhcp or manual"
      : undefined
}

const MOUNT_OPTION = "(discard|lazytime|noatime|nodev|noexec|nosuid)"
const IDMAP_ENTRY = "[ug]:[0-9]+:[0-9]+:[1-9][0-9]*"
const volumeKeys: Readonly<Record<string, SubSpec>> = {
  volume: { type: "string", defaultKey: true, required: true, format: FORMATS.lxcMpString },
  size: { type: "string", format: FORMATS.diskSize },
  acl: { type: "boolean" },
  mountoptions: { type: "string", pattern: new RegExp(`^${MOUNT_OPTION}(;${MOUNT_OPTION})*$`) },
  idmap: { type: "string", pattern: new RegExp(`^(?:passthrough|${IDMAP_ENTRY}(?:;${IDMAP_ENTRY})*)$`) },
  ro: { type: "boolean" },
  quota: { type: "boolean" },
  replicate: { type: "boolean" },
  shared: { type: "boolean" }
}
const mountPoint: PropertyFormat = {
  keys: {
    ...volumeKeys,
    mp: { type: "string", required: true, format: FORMATS.lxcMpString },
    backup: { type: "boolean" },
    keepattrs: { type: "boolean" }
  }
}

const ROOT_ONLY =
  "only root@pam may set it (PVE::LXC check_ct_modify_config_perm); the agent's API token never counts as root@pam"

/** Bind and device mounts (a path instead of a storage volume) are root@pam's (PVE::LXC::Config `classify_mountpoint`). */
const pathMountIsRootOnly = (_: string, p: ReadonlyMap<string, string> | undefined): string | undefined =>
  p?.get("volume")?.startsWith("/") === true ? `a bind or device mount: ${ROOT_ONLY}` : undefined

export const LXC_SCHEMA: GuestConfigSchema = {
  keys: {
    hostname: str({ format: FORMATS.dnsName, maxLength: 255 }),
    description: str({ maxLength: 8192, multiline: true }),
    tags: str({ format: FORMATS.tagList, multiline: true }),
    onboot: bool,
    startup: str({ format: FORMATS.startupOrder }),
    protection: bool,
    template: bool,
    debug: bool,
    arch: oneOf("amd64", "i386", "arm64", "armhf", "riscv32", "riscv64"),
    ostype: {
      ...oneOf(
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
      ),
      required: true
    },
    console: bool,
    tty: int(0, 6),
    cmode: oneOf("shell", "console", "tty"),
    cores: int(1, 8192),
    cpulimit: num(0, 8192),
    cpuunits: {
      value: {
        kind: "integer",
        minimum: 0,
        maximum: 500000,
        clamp: {
          above: 10000,
          why:
            "on cgroup v2 hosts PVE stores larger values as 10000 (pve-common PVE::CGroup clamp_cpu_shares), so it would never read back"
        }
      }
    },
    memory: { ...int(16, undefined, "MiB"), required: true },
    swap: int(0, undefined, "MiB"),
    nameserver: str({ format: FORMATS.ipLlIfaceList, multiline: true }),
    searchdomain: str({ format: FORMATS.dnsNameList, multiline: true }),
    timezone: str({ format: FORMATS.ctTimezone }),
    // No control characters but tab (`$confdesc` entrypoint/env patterns); env entries are NUL-separated.
    entrypoint: str({ pattern: /^[^\x00-\x08\x0a-\x1f\x7f]+$/ }),
    env: str({ pattern: /^\w+=[^\x00-\x08\x0a-\x1f\x7f]*(?:\0\w+=[^\x00-\x08\x0a-\x1f\x7f]*)*$/ }),
    features: FEATURES,
    rootfs: { ...props({ keys: volumeKeys }), required: true, rootOnly: pathMountIsRootOnly }
  },
  families: [
    { prefix: "net", count: 32, spec: props(net) },
    { prefix: "mp", count: 256, spec: { ...props(mountPoint), rootOnly: pathMountIsRootOnly } }
  ],
  refused: {
    digest: refuse(
      "not-settable",
      "digest is not a config key but the SHA-1 of the config file, generated by PVE on every write"
    ),
    pending: refuse("not-settable", "pending changes are read from /pending, not set as a key"),
    // Unlike qemu, any holder of VM.Config.Options may write it — still PVE's own bookkeeping.
    lock: refuse("internal", "PVE sets and clears it around its own tasks"),
    parent: refuse(
      "not-settable",
      "PVE maintains it and its config API does not accept it (PVE::LXC::Config json_config_properties)"
    ),
    snaptime: refuse(
      "not-settable",
      "PVE maintains it and its config API does not accept it (PVE::LXC::Config json_config_properties)"
    ),
    unprivileged: refuse(
      "read-only",
      "fixed at creation: PVE answers \"unable to modify read-only option: 'unprivileged'\""
    ),
    hookscript: refuse("root-only", ROOT_ONLY),
    lxc: refuse("not-settable", "raw lxc.* lines are kept in the config file but cannot be set through the API")
  },
  refusedFamilies: [
    {
      prefix: "unused",
      count: 256,
      refusal: refuse("internal", "PVE records detached volumes here; deleting one destroys the volume")
    },
    { prefix: "dev", count: 256, refusal: refuse("root-only", `device passthrough: ${ROOT_ONLY}`) }
  ]
}
