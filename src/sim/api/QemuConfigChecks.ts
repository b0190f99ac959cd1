/**
 * qemu's checks of a config write that depend on the old or the new value, against the loaded
 * guest: qemu-server `PVE::API2::Qemu` `$update_vm_api`'s delete and add/change loops, with
 * their per-value privileges (`$check_drive_perms`, `check_usb_perm`, `check_hostpci_perm`,
 * `check_rng_perm`, `check_dir_perm`, serial ports) and value rules (`assert_clipboard_config`,
 * `PVE::QemuServer::Machine::assert_valid_machine_property`, the boot order, the TPM version).
 */
import { isDriveName } from "../Formats.js"
import type { GuestState } from "../GuestState.js"
import { splitList } from "../Params.js"
import {
  bootFormat,
  driveFormat,
  hostpciFormat,
  machineFormat,
  rngFormat,
  usbFormat,
  vgaFormat,
  virtiofsFormat
} from "../QemuConfigSchema.js"
import { die, paramFail, type Reply } from "../Reply.js"
import { needOn, needVm, parsed, truthy, type WriteRequest } from "./ConfigCheckBasics.js"
import type { Ctx } from "./Context.js"

/** `drive_is_cloudinit`. */
const isCloudinit = (file: string): boolean =>
  /[:/](?:vm-\d+-)?cloudinit(?:\.(raw|qcow|qcow2|qed|vmdk|cloop))?$/.test(file)

/** `$check_drive_perms`: a cloud-init drive wants Cloudinit and CDROM, a CD-ROM CDROM, a disk Disk. */
const drivePermission = (ctx: Ctx, key: string, value: string): Reply | undefined => {
  const format = driveFormat(key)
  if (format === undefined) return undefined
  const drive = parsed(format, value)
  const file = drive.get("file") ?? ""
  if (isCloudinit(file)) return needVm(ctx, ["VM.Config.Cloudinit", "VM.Config.CDROM"])
  return needVm(ctx, [drive.get("media") === "cdrom" ? "VM.Config.CDROM" : "VM.Config.Disk"])
}

const usbPermission = (ctx: Ctx, key: string, value: string): Reply | undefined => {
  const denied = needVm(ctx, ["VM.Config.HWType"])
  if (denied !== undefined) return denied
  const usb = parsed(usbFormat, value)
  const host = usb.get("host")
  const mapping = usb.get("mapping")
  if (truthy(host)) {
    return /^spice$/i.test(host ?? "")
      ? undefined
      : die(`only root can set '${key}' config for real devices`)
  }
  if (truthy(mapping)) return needOn(ctx, `/mapping/usb/${mapping ?? ""}`, ["Mapping.Use"])
  return die("either 'host' or 'mapping' must be set.")
}

const hostpciPermission = (ctx: Ctx, key: string, value: string): Reply | undefined => {
  const pci = parsed(hostpciFormat, value)
  const mapping = pci.get("mapping")
  if (truthy(pci.get("host"))) return die(`only root can set '${key}' config for non-mapped devices`)
  if (!truthy(mapping)) return die("either 'host' or 'mapping' must be set.")
  const denied = needOn(ctx, `/mapping/pci/${mapping ?? ""}`, ["Mapping.Use"]) ?? needVm(ctx, ["VM.Config.HWType"])
  if (denied !== undefined) return denied
  return pci.has("romfile") ? paramFail({ [key]: "only root@pam can set 'romfile' option" }) : undefined
}

const rngPermission = (ctx: Ctx, value: string): Reply | undefined =>
  needVm(ctx, ["VM.Config.HWType"]) ??
    (parsed(rngFormat, value).get("source") === "/dev/hwrng"
      ? needOn(ctx, "/mapping/hwrng", ["Mapping.Use"])
      : undefined)

const dirPermission = (ctx: Ctx, value: string): Reply | undefined =>
  needVm(ctx, ["VM.Config.Disk"]) ??
    needOn(ctx, `/mapping/dir/${parsed(virtiofsFormat, value).get("dirid") ?? ""}`, ["Mapping.Use"])

/** The permission of an old or new value of a qemu key whose rule depends on it. */
const qemuValuePermission = (ctx: Ctx, key: string, value: string): Reply | undefined => {
  if (isDriveName(key)) return drivePermission(ctx, key, value)
  if (/^usb\d+$/.test(key)) return usbPermission(ctx, key, value)
  if (/^hostpci\d+$/.test(key)) return hostpciPermission(ctx, key, value)
  if (/^rng\d+$/.test(key)) return rngPermission(ctx, value)
  if (/^virtiofs\d+$/.test(key)) return dirPermission(ctx, value)
  return undefined
}

const current = (g: GuestState, key: string): string | undefined => g.config.get(key) ?? g.pending.get(key)

/** `$update_vm_api`'s delete loop: keys that are not set are skipped with a warning. */
export const qemuDeleteChecks = (ctx: Ctx, g: GuestState, key: string): Reply | undefined => {
  const value = current(g, key)
  if (value === undefined) return undefined
  if (/^unused\d+$/.test(key)) return needVm(ctx, ["VM.Config.Disk"])
  if (/^serial\d+$/.test(key)) {
    return value === "socket"
      ? needVm(ctx, ["VM.Config.HWType"])
      : die(`only root can delete '${key}' config for real devices`)
  }
  return qemuValuePermission(ctx, key, value)
}

/** `$update_vm_api`'s add/change loop; a value equal to the pending one is skipped unchecked. */
export const qemuSetChecks = (
  ctx: Ctx,
  g: GuestState,
  req: WriteRequest,
  key: string,
  value: string
): Reply | undefined => {
  if (g.pending.get(key) === value) return undefined
  const old = g.config.get(key)
  if (/^serial\d+$/.test(key)) {
    return (old === undefined || old === "socket") && value === "socket"
      ? needVm(ctx, ["VM.Config.HWType"])
      : die(`only root can modify '${key}' config for real devices`)
  }
  if (isDriveName(key) || /^(usb|hostpci|rng|virtiofs)\d+$/.test(key)) {
    const hasOld = old !== undefined && old !== "" && old !== "0"
    return (hasOld ? qemuValuePermission(ctx, key, old ?? "") ?? tpmVersionChange(key, old ?? "", value) : undefined) ??
      qemuValuePermission(ctx, key, value)
  }
  if (key === "vga") {
    const vga = parsed(vgaFormat, value)
    const type = vga.get("type")
    if (vga.get("clipboard") === "vnc" && truthy(type) && !/^(std|cirrus|vmware|virtio|qxl)/.test(type ?? "")) {
      return die(`vga type ${type ?? ""} is not compatible with VNC clipboard`)
    }
  }
  if (key === "machine") return machineProblem(parsed(machineFormat, value))
  if (key === "boot") {
    const order = parsed(bootFormat, value).get("order")
    for (const dev of truthy(order) ? splitList(order ?? "") : []) {
      const exists = truthy(g.config.get(dev)) || truthy(g.pending.get(dev)) || truthy(req.sets.get(dev))
      if (!exists || req.deletes.has(dev)) return die(`invalid bootorder: device '${dev}' does not exist'`)
    }
  }
  return undefined
}

/** `prohibit_tpm_version_change`: the same TPM state volume keeps its version (default v1.2). */
const tpmVersionChange = (key: string, old: string, value: string): Reply | undefined => {
  const format = key === "tpmstate0" ? driveFormat(key) : undefined
  if (format === undefined) return undefined
  const before = parsed(format, old)
  const after = parsed(format, value)
  if (before.get("file") !== after.get("file")) return undefined
  return (before.get("version") ?? "v1.2") === (after.get("version") ?? "v1.2")
    ? undefined
    : die("cannot change TPM state version after creation")
}

/** `assert_valid_machine_property`. */
const machineProblem = (m: ReadonlyMap<string, string>): Reply | undefined => {
  const bits = m.get("aw-bits")
  if (m.get("viommu") === "intel") {
    if (!/q35/.test(m.get("type") ?? "")) return die("to use Intel vIOMMU please set the machine type to q35")
    if (truthy(bits) && Number(bits) !== 39 && Number(bits) !== 48) {
      return die("Intel vIOMMU supports only 39 or 48 bits as address width")
    }
  }
  return truthy(bits) && !truthy(m.get("viommu")) ? die("cannot set aw-bits if no vIOMMU is configured") : undefined
}
