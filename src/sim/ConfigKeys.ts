/**
 * The config keys the simulator knows per guest type: schema (QemuConfigSchema.ts,
 * LxcConfigSchema.ts), the privilege a write needs
 * (qemu-server `PVE::API2::Qemu` `$check_vm_modify_config_perm`, pve-container
 * `PVE::LXC::check_ct_modify_config_perm`) and how a change reaches a running guest: fast-plug
 * at once, hot-pluggable live, the rest pending until the next start (qemu-server
 * `PVE::QemuServer` `$fast_plug_option`, pve-container `PVE::LXC::Config` `$LXC_FASTPLUG_OPTIONS`).
 */
import { formats, type ParamSpec } from "./Params.js"
import type { GuestKind } from "./GuestState.js"

export type Apply = "fast" | "live" | "pending" | "hotplug-network" | "hotplug-disk" | "hotplug-usb" | "hotplug-memory" | "hotplug-cpu"

/**
 * What a non-root token needs for a key: every privilege of a list on /vms/ID; `anyOf` one of
 * them; `root` = only root@pam ("only root can set 'KEY' config", a 500); `deny` = a 403 with
 * that text; `value` = decided from the old and the new value when the change is applied
 * (api/ConfigPerms.ts).
 */
export type KeyPriv = string | "root" | "hookscript-lxc" | ReadonlyArray<string>

export interface KeyInfo {
  readonly spec: ParamSpec
  readonly priv: KeyPriv
  /** The check of a value (for keys the config API only deletes, what `$confdesc` declares). */
  readonly apply: Apply
}

const s = (extra: Partial<ParamSpec> = {}): ParamSpec => ({ type: "string", ...extra })
const b: ParamSpec = { type: "boolean" }
const i = (minimum?: number, maximum?: number): ParamSpec => ({
  type: "integer",
  ...(minimum === undefined ? {} : { minimum }),
  ...(maximum === undefined ? {} : { maximum })
})
const n = (minimum: number, maximum: number): ParamSpec => ({ type: "number", minimum, maximum })
const k = (spec: ParamSpec, priv: KeyPriv, apply: Apply): KeyInfo => ({ spec, priv, apply })

const O = "VM.Config.Options"
const C = "VM.Config.CPU"
const M = "VM.Config.Memory"
const N = "VM.Config.Network"
const D = "VM.Config.Disk"
const H = "VM.Config.HWType"
const CI = "VM.Config.Cloudinit"

const common: Record<string, KeyInfo> = {
  description: k(s({ maxLength: 8192 }), O, "fast"),
  onboot: k(b, O, "fast"),
  protection: k(b, O, "fast"),
  tags: k(s({ format: formats.tagList }), O, "fast"),
  startup: k(s(), O, "fast"),
  template: k(b, O, "pending"),
  cpulimit: k(n(0, 8192), C, "live"),
  lock: k(s(), "root", "fast")
}

const QEMU: Record<string, KeyInfo> = {
  ...common,
  name: k(s({ format: formats.dnsName }), O, "fast"),
  cores: k(i(1, 1024), C, "pending"),
  sockets: k(i(1, 16), C, "pending"),
  vcpus: k(i(1, 4096), C, "hotplug-cpu"),
  cpu: k(s(), C, "pending"),
  cpuunits: k(i(1, 262144), C, "live"),
  numa: k(b, C, "pending"),
  memory: k(s(), M, "hotplug-memory"),
  balloon: k(i(0), M, "live"),
  shares: k(i(0, 50000), M, "fast"),
  agent: k(s(), O, "live"),
  ostype: k(s({ enum: ["other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11", "l24", "l26", "solaris"] }), O, "pending"),
  boot: k(s(), D, "pending"),
  bootdisk: k(s(), D, "pending"),
  machine: k(s(), H, "pending"),
  bios: k(s({ enum: ["seabios", "ovmf"] }), H, "pending"),
  vga: k(s(), H, "pending"),
  scsihw: k(s({ enum: ["lsi", "lsi53c810", "virtio-scsi-pci", "virtio-scsi-single", "megasas", "pvscsi"] }), H, "pending"),
  hotplug: k(s(), H, "live"),
  tablet: k(b, H, "live"),
  acpi: k(b, H, "pending"),
  kvm: k(b, H, "pending"),
  vmgenid: k(s(), O, "pending"),
  smbios1: k(s(), O, "pending"),
  migrate_downtime: k(n(0, 1e9), O, "fast"),
  migrate_speed: k(i(0), O, "fast"),
  ciuser: k(s(), CI, "fast"),
  cipassword: k(s(), CI, "fast"),
  nameserver: k(s(), CI, "fast"),
  searchdomain: k(s(), CI, "fast"),
  sshkeys: k(s(), CI, "fast"),
  args: k(s(), "root", "pending"),
  hookscript: k(s(), "root", "fast"),
  meta: k(s(), "root", "pending"),
  // Only deleted by users (drops a hibernation state); qemu-server `PVE::API2::Qemu`
  // `$check_vm_modify_config_perm` wants both privileges.
  vmstate: k(s(), [D, "VM.PowerMgmt"], "fast")
}

const LXC: Record<string, KeyInfo> = {
  ...common,
  hostname: k(s({ maxLength: 255, format: formats.dnsName }), N, "fast"),
  cores: k(i(1, 8192), C, "fast"),
  cpuunits: k(i(0, 500000), C, "live"),
  memory: k(i(16), M, "live"),
  swap: k(i(0), M, "live"),
  nameserver: k(s(), N, "pending"),
  searchdomain: k(s(), N, "pending"),
  rootfs: k(s(), D, "pending"),
  ostype: k(s({ enum: ["debian", "devuan", "ubuntu", "centos", "fedora", "opensuse", "archlinux", "alpine", "gentoo", "nixos", "unmanaged"] }), O, "pending"),
  arch: k(s({ enum: ["amd64", "i386", "arm64", "armhf", "riscv32", "riscv64"] }), O, "pending"),
  unprivileged: k(b, O, "pending"),
  features: k(s(), O, "pending"),
  console: k(b, O, "pending"),
  cmode: k(s({ enum: ["shell", "console", "tty"] }), O, "pending"),
  tty: k(i(0, 6), O, "pending"),
  timezone: k(s(), O, "pending"),
  hookscript: k(s(), "hookscript-lxc", "fast")
}

const QEMU_INDEXED: ReadonlyArray<readonly [RegExp, KeyInfo]> = [
  [/^net([0-9]|[1-2][0-9]|3[01])$/, k(s(), N, "hotplug-network")],
  [/^(scsi([0-9]|[1-2][0-9]|30)|virtio([0-9]|1[0-5]))$/, k(s(), D, "hotplug-disk")],
  [/^(ide[0-3]|sata[0-5]|efidisk0|tpmstate0)$/, k(s(), D, "pending")],
  [/^unused\d+$/, k(s(), D, "pending")],
  [/^usb[0-4]$/, k(s(), H, "hotplug-usb")],
  [/^(serial|parallel)[0-3]$/, k(s(), H, "pending")],
  [/^ipconfig([0-9]|[1-2][0-9]|3[01])$/, k(s(), CI, "fast")]
]
const LXC_INDEXED: ReadonlyArray<readonly [RegExp, KeyInfo]> = [
  [/^net([0-9]|[1-2][0-9]|3[01])$/, k(s(), N, "live")],
  [/^mp([0-9]|[1-9][0-9]|2[0-4][0-9]|25[0-5])$/, k(s(), D, "live")],
  [/^unused\d+$/, k(s(), D, "pending")],
  [/^dev\d+$/, k(s(), "root", "live")]
]

export const keyInfo = (kind: GuestKind, key: string): KeyInfo | undefined => {
  const table = kind === "qemu" ? QEMU : LXC
  if (Object.prototype.hasOwnProperty.call(table, key)) return table[key]
  for (const [re, info] of kind === "qemu" ? QEMU_INDEXED : LXC_INDEXED) if (re.test(key)) return info
  return undefined
}

/** Config-modify privileges, any one of which lets a token call PUT/POST config (§2.2). */
export const configPrivs = (kind: GuestKind): ReadonlyArray<string> =>
  kind === "qemu"
    ? ["VM.Config.Disk", "VM.Config.CDROM", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network", "VM.Config.HWType", "VM.Config.Options", "VM.Config.Cloudinit"]
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
