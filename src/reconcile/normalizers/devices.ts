/**
 * Property-string keys beyond net, memory and agent that still re-print in PVE's own order
 * (pve-common `PVE::JSONSchema::print_property_string`): qemu `cpu`, `hotplug`, and disks/mount
 * points. Compared as maps so key order alone is never drift: otherwise every disk would plan a
 * change after each read-back.
 */
import type { GuestType } from "../../domain/Guest.js"
import {
  aliasTargets,
  booleanSubKeys,
  canonicalizeMap,
  parseProperties,
  printCanonical,
  propertyField
} from "./propertyString.js"
import type { FieldNormalizer, InputValue } from "./types.js"

/** qemu `cpu`: `host` ≡ `cputype=host`. */
export const qemuCpu = propertyField({ family: "cpu", defaultKey: "cputype" })

const HOTPLUG_DEFAULT = "disk,network,usb"

/**
 * qemu `hotplug`: a set; `1` is PVE's default set (`network,disk,usb`), absent = default
 * (qemu-server `PVE::QemuServer` `$confdesc`).
 */
export const qemuHotplug: FieldNormalizer = {
  family: "hotplug",
  normalize: (value: InputValue) => {
    // The set first, then its meaning: "1,1" is the default set as much as "1" is, and the
    // result of normalizing must read the same when normalized again.
    const set = [...new Set(String(value).split(",").map((s) => s.trim()).filter((s) => s !== ""))].sort().join(",")
    return set === "1" ? HOTPLUG_DEFAULT : set
  },
  absent: HOTPLUG_DEFAULT
}

/**
 * Disks (qemu) and rootfs/mount points (lxc): `size` is written by PVE from the volume, so an
 * observed size is only compared when the document names one. Boolean options read as
 * `parse_boolean` reads them: PVE re-prints a qemu drive (qemu-server `PVE::API2::Qemu`
 * `$update_vm_api` through `PVE::QemuServer::Drive::print_drive`) and an lxc mount point
 * (pve-container `PVE::LXC::Config::apply_pending_mountpoint`, `print_ct_mountpoint`) with
 * 1/0, so `ssd=yes` is `ssd=1`, and `size` through `pveDiskSize`; aliases (`volume=`) as the key
 * they stand for.
 */
const POWERS: Readonly<Record<string, number>> = { K: 1, M: 2, G: 3, T: 4 }

/** pve-common `PVE::JSONSchema::format_size`: the largest unit that divides the byte count. */
const formatSize = (bytes: number): string => {
  const kb = Math.trunc(bytes / 1024)
  if (kb * 1024 !== bytes) return String(bytes)
  const mb = Math.trunc(kb / 1024)
  if (mb * 1024 !== kb) return `${kb}K`
  const gb = Math.trunc(mb / 1024)
  if (gb * 1024 !== mb) return `${mb}M`
  const tb = Math.trunc(gb / 1024)
  return tb * 1024 !== gb ? `${gb}G` : `${tb}T`
}

/**
 * `size` as PVE stores it: qemu-server `PVE::QemuServer::Drive::parse_drive` and pve-container
 * `PVE::LXC::Config` `$parse_ct_mountpoint_full` turn it into bytes (pve-common
 * `PVE::JSONSchema::parse_size`, truncated to an integer), and `print_property_string` prints it
 * back through `format_size`: "1024M" is stored as "1G", "1.5G" as "1536M". Text `parse_size`
 * refuses stays as it is.
 */
export const pveDiskSize = (text: string): string => {
  const m = /^(\d+(?:\.\d+)?)([KMGT](?:iB)?)?$/.exec(text)
  if (m === null) return text
  const bytes = Math.trunc(Number(m[1]) * 1024 ** (POWERS[m[2]?.[0] ?? ""] ?? 0))
  return Number.isSafeInteger(bytes) ? formatSize(bytes) : text
}

const disk = (
  defaultKey: string,
  booleans: ReadonlyArray<string>,
  aliases: ReadonlyMap<string, string>,
  qemu: boolean
): FieldNormalizer => {
  const toMap = (text: string) => {
    const parsed = parseProperties(text, defaultKey)
    const resolved = new Map([...parsed].map(([k, v]) => [aliases.get(k) ?? k, v]))
    const map = canonicalizeMap({ family: "disk", booleans }, resolved)
    const file = map.get("file")
    if (qemu && (file === "none" || file === "cdrom")) {
      // qemu-server `PVE::QemuServer::cleanup_drive_path` makes an empty drive a CD-ROM unless
      // a media is given, and `PVE::API2::Qemu` `create_disks` stores it without a size.
      if ((map.get("media") ?? "") === "") map.set("media", "cdrom")
      map.delete("size")
    }
    const size = map.get("size")
    if (size !== undefined) map.set("size", pveDiskSize(size))
    return map
  }
  return {
    family: "disk",
    normalize: (value: InputValue) => printCanonical(toMap(String(value))),
    equal: (desired, observed) => {
      const d = toMap(desired)
      const o = toMap(observed)
      if (!d.has("size")) o.delete("size")
      return printCanonical(d) === printCanonical(o)
    }
  }
}

// One normalizer per bus: each bus has its own options (`ssd` is not virtio's, `iothread` not ide's).
const disks = new Map<string, FieldNormalizer>()

/** The disk normalizer of a qemu disk or lxc rootfs/mount point key. */
export const diskFor = (type: GuestType, key: string): FieldNormalizer => {
  const family = `${type}/${key.replace(/\d+$/, "")}`
  const known = disks.get(family)
  if (known !== undefined) return known
  const made = disk(
    type === "qemu" ? "file" : "volume",
    booleanSubKeys(type, key),
    aliasTargets(type, key),
    type === "qemu"
  )
  disks.set(family, made)
  return made
}

export const QEMU_DISK_RE = /^(ide|sata|scsi|virtio|efidisk|tpmstate)\d+$/
export const LXC_VOLUME_RE = /^(rootfs|mp\d+)$/
