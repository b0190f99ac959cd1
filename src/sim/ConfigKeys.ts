/**
 * The config keys the simulator knows per guest type: schema (QemuConfigSchema.ts,
 * LxcConfigSchema.ts), the privilege a write needs
 * (qemu-server `PVE::API2::Qemu` `$check_vm_modify_config_perm`, pve-container
 * `PVE::LXC::check_ct_modify_config_perm`) and how a change reaches a running guest: fast-plug
 * at once, hot-pluggable live, the rest pending until the next start (qemu-server
 * `PVE::QemuServer` `$fast_plug_option`, pve-container `PVE::LXC::Config` `$LXC_FASTPLUG_OPTIONS`).
 */
import type { GuestKind } from "./GuestState.js"
import { lxcOptionSpec, lxcSettableSpec } from "./LxcConfigSchema.js"
import type { ParamSpec } from "./Params.js"
import { qemuOptionSpec, qemuSettableSpec } from "./QemuConfigSchema.js"

export type Apply =
  | "fast"
  | "live"
  | "pending"
  | "hotplug-network"
  | "hotplug-disk"
  | "hotplug-usb"
  | "hotplug-memory"
  | "hotplug-cpu"

/**
 * What a non-root token needs for a key: every privilege of a list on /vms/ID; `anyOf` one of
 * them; `root` = only root@pam ("only root can set 'KEY' config", a 500); `deny` = a 403 with
 * that text; `value` = decided from the old and the new value when the change is applied
 * (api/ConfigPerms.ts).
 */
export type KeyPriv = ReadonlyArray<string> | { readonly anyOf: ReadonlyArray<string> } | "root" | {
  readonly deny: string
} | "value"

export interface KeyInfo {
  /** The check of a value (for keys the config API only deletes, what `$confdesc` declares). */
  readonly spec: ParamSpec
  readonly priv: KeyPriv
  readonly apply: Apply
}

type Rule = readonly [KeyPriv, Apply]

const O = ["VM.Config.Options"]
const C = ["VM.Config.CPU"]
const M = ["VM.Config.Memory"]
const N = ["VM.Config.Network"]
const D = ["VM.Config.Disk"]
const H = ["VM.Config.HWType"]
const CLOUDINIT = { anyOf: ["VM.Config.Cloudinit", "VM.Config.Network"] }

const QEMU: Readonly<Record<string, Rule>> = {
  agent: [O, "live"],
  autostart: [O, "pending"],
  bios: [O, "pending"],
  description: [O, "fast"],
  keyboard: [O, "pending"],
  localtime: [O, "pending"],
  migrate_downtime: [O, "fast"],
  migrate_speed: [O, "fast"],
  name: [O, "fast"],
  onboot: [O, "fast"],
  ostype: [O, "pending"],
  protection: [O, "fast"],
  reboot: [O, "pending"],
  startdate: [O, "pending"],
  startup: [O, "fast"],
  tdf: [O, "pending"],
  template: [O, "pending"],
  tags: [O, "fast"],
  cores: [C, "pending"],
  cpu: [C, "pending"],
  runningcpu: [C, "pending"],
  cpulimit: [C, "live"],
  cpuunits: [C, "live"],
  numa: [C, "pending"],
  smp: [C, "pending"],
  sockets: [C, "pending"],
  vcpus: [C, "hotplug-cpu"],
  memory: [M, "hotplug-memory"],
  balloon: [M, "live"],
  shares: [M, "fast"],
  "allow-ksm": [M, "pending"],
  acpi: [H, "pending"],
  hotplug: [H, "live"],
  kvm: [H, "pending"],
  machine: [H, "pending"],
  runningmachine: [H, "pending"],
  scsihw: [H, "pending"],
  smbios1: [H, "pending"],
  tablet: [H, "live"],
  vga: [H, "pending"],
  watchdog: [H, "pending"],
  audio0: [H, "pending"],
  rng0: ["value", "pending"],
  freeze: [["VM.PowerMgmt"], "pending"],
  boot: [D, "pending"],
  bootdisk: [D, "pending"],
  vmstatestorage: [D, "fast"],
  "running-nets-host-mtu": [N, "pending"],
  cicustom: [CLOUDINIT, "fast"],
  cipassword: [CLOUDINIT, "fast"],
  citype: [CLOUDINIT, "fast"],
  ciuser: [CLOUDINIT, "fast"],
  ciupgrade: [CLOUDINIT, "fast"],
  nameserver: [CLOUDINIT, "fast"],
  searchdomain: [CLOUDINIT, "fast"],
  sshkeys: [CLOUDINIT, "fast"],
  // Only deleted by users (drops a hibernation state); both privileges are needed.
  vmstate: [[...D, "VM.PowerMgmt"], "fast"],
  cdrom: ["value", "pending"],
  // Keys in none of `$check_vm_modify_config_perm`'s lists are root@pam's.
  args: ["root", "pending"],
  hookscript: ["root", "fast"],
  lock: ["root", "fast"],
  affinity: ["root", "pending"],
  arch: ["root", "pending"],
  hugepages: ["root", "pending"],
  keephugepages: ["root", "pending"],
  ivshmem: ["root", "pending"],
  spice_enhancements: ["root", "pending"],
  "amd-sev": ["root", "pending"],
  "intel-tdx": ["root", "pending"],
  vmgenid: ["root", "pending"],
  meta: ["root", "pending"],
  parent: ["root", "pending"],
  snaptime: ["root", "pending"]
}

const QEMU_FAMILIES: ReadonlyArray<readonly [RegExp, Rule]> = [
  [/^net\d+$/, [N, "hotplug-network"]],
  [/^ipconfig\d+$/, [CLOUDINIT, "fast"]],
  [/^numa\d+$/, [C, "pending"]],
  [/^(scsi|virtio)\d+$/, ["value", "hotplug-disk"]],
  [/^(ide|sata|efidisk|tpmstate|unused)\d+$/, ["value", "pending"]],
  [/^usb\d+$/, ["value", "hotplug-usb"]],
  [/^(serial|hostpci|virtiofs)\d+$/, ["value", "pending"]],
  [/^parallel\d+$/, ["root", "pending"]]
]

const LXC: Readonly<Record<string, Rule>> = {
  cores: [C, "fast"],
  cpuunits: [C, "live"],
  cpulimit: [C, "live"],
  rootfs: ["value", "pending"],
  memory: [M, "live"],
  swap: [M, "live"],
  nameserver: [N, "pending"],
  searchdomain: [N, "pending"],
  hostname: [N, "fast"],
  features: ["value", "pending"],
  hookscript: [{ deny: "changing the hookscript is only allowed for root@pam" }, "fast"],
  description: [O, "fast"],
  onboot: [O, "fast"],
  startup: [O, "fast"],
  protection: [O, "fast"],
  tags: [O, "fast"],
  lock: [O, "fast"]
}

const LXC_FAMILIES: ReadonlyArray<readonly [RegExp, Rule]> = [
  [/^net\d+$/, [N, "live"]],
  [/^mp\d+$/, ["value", "live"]],
  [/^dev\d+$/, [{ deny: "configuring device passthrough is only allowed for root@pam" }, "live"]]
]

const own = (record: Readonly<Record<string, Rule>>, key: string): Rule | undefined =>
  Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined

/** Any other `$confdesc` key: qemu has none left; lxc's fall to VM.Config.Options, pending. */
const rule = (kind: GuestKind, key: string): Rule => {
  const fixed = own(kind === "qemu" ? QEMU : LXC, key)
  if (fixed !== undefined) return fixed
  const family = (kind === "qemu" ? QEMU_FAMILIES : LXC_FAMILIES).find(([re]) => re.test(key))
  return family?.[1] ?? (kind === "qemu" ? ["root", "pending"] : [O, "pending"])
}

/** Any key of the guest type's option table (`option_exists`), settable or only deletable. */
export const keyInfo = (kind: GuestKind, key: string): KeyInfo | undefined => {
  const spec = kind === "qemu" ? qemuOptionSpec(key) : lxcOptionSpec(key)
  if (spec === undefined) return undefined
  const [priv, apply] = rule(kind, key)
  return { spec, priv, apply }
}

/** The check of a value the config API takes for `key`, or undefined (not a parameter). */
export const settableSpec = (kind: GuestKind, key: string): ParamSpec | undefined =>
  kind === "qemu" ? qemuSettableSpec(key) : lxcSettableSpec(key)

/**
 * Config-modify privileges, any one of which lets a token call PUT/POST config (qemu-server
 * `PVE::API2::Qemu` `$vm_config_perm_list`).
 */
export const configPrivs = (kind: GuestKind): ReadonlyArray<string> =>
  kind === "qemu"
    ? [
      "VM.Config.Disk",
      "VM.Config.CDROM",
      "VM.Config.CPU",
      "VM.Config.Memory",
      "VM.Config.Network",
      "VM.Config.HWType",
      "VM.Config.Options",
      "VM.Config.Cloudinit"
    ]
    : ["VM.Config.Disk", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network", "VM.Config.Options"]

/**
 * How a stored value is typed in JSON on read (qemu-server `PVE::QemuServer::check_type`,
 * pve-container `PVE::LXC::Config::check_type`): integers/booleans as numbers.
 */
export const readAsNumber = (kind: GuestKind, key: string): boolean => {
  if (key === "snaptime" || key === "vmstate") return true
  const info = keyInfo(kind, key)
  return info !== undefined && (info.spec.type === "integer" || info.spec.type === "boolean")
}

/**
 * Fast-plug / hotplug decision for a running guest (qemu-server
 * `PVE::QemuServer::vmconfig_hotplug_pending`, pve-container `PVE::LXC::Config::vmconfig_hotplug_pending`).
 */
export const appliesLive = (kind: GuestKind, key: string, hotplug: string | undefined): boolean => {
  const info = keyInfo(kind, key)
  if (info === undefined) return false
  if (info.apply === "fast" || info.apply === "live") return true
  if (info.apply === "pending") return false
  // qemu `hotplug` default is network,disk,usb; "1" means the same, "0" none.
  const raw = hotplug ?? "network,disk,usb"
  const set = new Set(raw === "1" ? ["network", "disk", "usb"] : raw === "0" ? [] : raw.split(","))
  return set.has(info.apply.slice("hotplug-".length))
}
