/**
 * Property strings as PVE stores them after a write (pve-common
 * `PVE::JSONSchema::print_property_string`, qemu-server `PVE::QemuServer::Network::print_net`
 * and `PVE::QemuServer::Drive::print_drive`, pve-container `PVE::LXC::Config::parse_lxc_network`
 * and `print_ct_mountpoint`; MAC prefix from pve-cluster `PVE::DataCenterConfig`): the default
 * key first, then the other keys sorted, booleans normalised to 1/0, disk sizes through
 * `parse_size` and `format_size`, MACs generated with the datacenter prefix BC:24:11 when
 * missing (user MAC case kept). These re-print a value the config schema already took
 * (QemuConfigSchema.ts, LxcConfigSchema.ts); they do not check it again. Pure apart from the
 * injected MAC generator.
 */
import { formatSize, parseSize } from "./Formats.js"
import { lxcNetFormat, lxcVolumeFormat } from "./LxcConfigSchema.js"
import { parseProperties, printProperties, readProperties } from "./PropertyFormat.js"
import { driveFormat, memoryFormat, netFormat } from "./QemuConfigSchema.js"

export type Canon = { readonly ok: string } | { readonly error: string }

/** qemu `netN`: `MODEL=MAC` first (qemu-server `PVE::QemuServer::Network::print_net`). */
export const canonicalQemuNet = (value: string, newMac: () => string): Canon => {
  const net = readProperties(netFormat, value)
  if ("error" in net) return net
  if (!net.ok.has("macaddr")) net.ok.set("macaddr", newMac())
  return { ok: printProperties(netFormat, net.ok) }
}

/**
 * lxc `netN`: `name=eth0` first, `hwaddr` generated, `type=veth` set (pve-container
 * `PVE::LXC::Config::parse_lxc_network`, `print_lxc_network`).
 */
export const canonicalLxcNet = (value: string, newMac: () => string): Canon => {
  const net = readProperties(lxcNetFormat, value)
  if ("error" in net) return net
  net.ok.set("type", "veth")
  const hw = net.ok.get("hwaddr")
  if (hw === undefined || hw === "" || hw === "0") net.ok.set("hwaddr", newMac())
  return { ok: printProperties(lxcNetFormat, net.ok) }
}

/** qemu `memory` (qemu-server `PVE::QemuServer::Memory` `$memory_fmt`): `N` or `current=N`, printed `N`. */
export const canonicalQemuMemory = (value: string): Canon => {
  const memory = parseProperties(memoryFormat, value)
  if ("error" in memory) return memory
  return { ok: String(Number(memory.ok.get("current"))) }
}

/** The memory MiB of a qemu `memory` value (default 512, qemu-server `PVE::QemuServer::Memory`). */
export const qemuMemoryMiB = (value: string | undefined): number => {
  if (value === undefined) return 512
  const c = canonicalQemuMemory(value)
  return "ok" in c ? Number(c.ok) : 512
}

/** `size=8G` of a disk property string, in bytes (0 when absent). */
export const diskSizeBytes = (value: string | undefined): number => {
  const size = value === undefined ? undefined : /(?:^|,)size=([^,]*)/.exec(value)?.[1]
  return size === undefined ? 0 : parseSize(size) ?? 0
}

/**
 * A `size` as `print_property_string` writes a `disk-size` value that `parse_size` turned into
 * bytes: "1.5G" is "1536M", "1024M" is "1G". A byte count past 2^53 keeps its text, as the
 * agent's normalizer does, rather than print a rounded number.
 */
const storedSize = (text: string): string => {
  const bytes = parseSize(text)
  return bytes === undefined || !Number.isSafeInteger(bytes) ? text : formatSize(bytes)
}

/** Perl truthiness: absent, "" and "0" are false. */
const perlTrue = (v: string | undefined): boolean => v !== undefined && v !== "" && v !== "0"

/**
 * A qemu drive as `$update_vm_api` stores it, for a value `$check_drive_param` took (qemu-server
 * `PVE::API2::Qemu`): `PVE::QemuServer::Drive::parse_drive` (aliases such as `volume` and
 * `bps_rd_length` resolved, booleans 1/0, `size` in bytes, and each `bps*` replaced by its
 * `mbps*` — as "0.000", since it divides `defined(delete …)`, not the value),
 * `PVE::QemuServer::cleanup_drive_path` (`none`/`cdrom` without a media get `media=cdrom`),
 * `create_disks` (no `size` on an empty drive) and `print_drive` (the volume first, then the
 * other keys sorted). What needs a storage (allocation, import, the volume's own size, paths
 * mapped to volumes) is not modelled: those values keep what was written.
 */
export const canonicalQemuDrive = (key: string, value: string): Canon => {
  const format = driveFormat(key)
  if (format === undefined) return { ok: value }
  const read = readProperties(format, value)
  if ("error" in read) return read
  const drive = read.ok
  for (const opt of ["bps", "bps_rd", "bps_wr"]) if (drive.delete(opt)) drive.set(`m${opt}`, "0.000")
  const file = drive.get("file") ?? ""
  const empty = file === "" || file === "none" || file === "cdrom"
  if (!perlTrue(drive.get("media")) && (file === "none" || file === "cdrom")) drive.set("media", "cdrom")
  if (empty) drive.delete("size")
  const size = drive.get("size")
  if (size !== undefined) drive.set("size", storedSize(size))
  return { ok: printProperties(format, drive) }
}

/**
 * An lxc mount point as it reaches the config once applied (pve-container `PVE::LXC::Config`
 * `apply_pending_mountpoint`: `parse_volume` through `$parse_ct_mountpoint_full`, then
 * `print_ct_mountpoint`): the volume first, then `mp`, then the rest sorted, booleans 1/0, `size`
 * through `parse_size`/`format_size`. `rootfs` never passes there (`update_pct_config` and
 * `vmconfig_apply_pending` copy it as written), nor does a pending value. PVE also re-reads a
 * volume's size from its storage (`$rescan_volume`); without storages the written size stays.
 */
export const appliedLxcMountPoint = (key: string, value: string): string => {
  const format = /^mp\d+$/.test(key) ? lxcVolumeFormat(key) : undefined
  if (format === undefined) return value
  const read = readProperties(format, value)
  if ("error" in read) return value
  const size = read.ok.get("size")
  if (size !== undefined) read.ok.set("size", storedSize(size))
  return printProperties(format, read.ok)
}
