/**
 * Property-string keys beyond net, memory and agent that still re-print in PVE's own order
 * (pve-common `PVE::JSONSchema::print_property_string`): qemu `cpu`, `hotplug`, and disks/mount
 * points. Compared as maps so key order alone is never drift: otherwise every disk would plan a
 * change after each read-back.
 */
import { parseProperties, printCanonical, propertyField } from "./propertyString.js"
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
 * observed size is only compared when the document names one.
 */
const disk = (defaultKey: string): FieldNormalizer => {
  const toMap = (text: string) => parseProperties(text, defaultKey)
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

export const qemuDisk = disk("file")
export const lxcVolume = disk("volume")

export const QEMU_DISK_RE = /^(ide|sata|scsi|virtio|efidisk|tpmstate)\d+$/
export const LXC_VOLUME_RE = /^(rootfs|mp\d+)$/
