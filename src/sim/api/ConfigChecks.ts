/**
 * The checks of a config write that PVE runs after its schema check, for a token (never
 * root@pam): the per-key privileges of qemu-server `PVE::API2::Qemu` `$check_vm_modify_config_perm`
 * and `$check_storage_access`, and pve-container `PVE::LXC::check_ct_modify_config_perm`; then,
 * on the loaded config, what depends on the old and the new value: qemu's `$update_vm_api`
 * update loop (`$check_drive_perms`, `check_usb_perm`, `check_hostpci_perm`, `check_rng_perm`,
 * `check_dir_perm`, serial ports, `assert_clipboard_config`,
 * `PVE::QemuServer::Machine::assert_valid_machine_property`, the boot order) and `$check_drive_param`
 * (`PVE::QemuServer::Drive::parse_drive`), lxc's feature flags, mount point types and
 * `update_pct_config`'s network check. Storage, SDN and bridge checks need a storage and network
 * model the simulator does not have, so they are left out (docs/simulator.md).
 */
import { Either } from "effect"
import { keyInfo } from "../ConfigKeys.js"
import { isDriveName } from "../Formats.js"
import type { GuestKind, GuestState } from "../GuestState.js"
import { lxcFeaturesFormat, lxcNetFormat, lxcVolumeFormat } from "../LxcConfigSchema.js"
import { splitList } from "../Params.js"
import { parseProperties, type PropFormat } from "../PropertyFormat.js"
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
import { die, paramFail, permFail, type Reply } from "../Reply.js"
import { type Ctx, need, needAny, uriVmid, vmPath } from "./Context.js"

const orUndefined = (c: Either.Either<void, Reply>): Reply | undefined =>
  Either.match(c, { onLeft: (r) => r, onRight: () => undefined })
const needOn = (ctx: Ctx, path: string, privs: ReadonlyArray<string>): Reply | undefined => {
  for (const priv of privs) {
    const denied = orUndefined(need(ctx, path, priv))
    if (denied !== undefined) return denied
  }
  return undefined
}
const needVm = (ctx: Ctx, privs: ReadonlyArray<string>): Reply | undefined => needOn(ctx, vmPath(uriVmid(ctx)), privs)

/** A value that passed the schema check, parsed again (empty when it somehow does not parse). */
const parsed = (format: PropFormat, value: string): ReadonlyMap<string, string> => {
  const p = parseProperties(format, value)
  return "ok" in p ? p.ok : new Map()
}

/** Perl truthiness of an optional value. */
const truthy = (v: string | undefined): boolean => v !== undefined && v !== "" && v !== "0"

/**
 * The privileges `$check_vm_modify_config_perm` / `check_ct_modify_config_perm` want for a key
 * before the config is loaded; keys whose rule depends on the value are checked by `applyChecks`.
 * qemu's `startup` also wants Sys.Modify on / (it changes how the host boots).
 */
export const keyPermission = (ctx: Ctx, kind: GuestKind, key: string): Reply | undefined => {
  const info = keyInfo(kind, key)
  if (info === undefined) return undefined
  const priv = info.priv
  if (priv === "value") return undefined
  if (priv === "root") return die(`only root can set '${key}' config`)
  if ("deny" in priv) return permFail(priv.deny)
  if ("anyOf" in priv) return orUndefined(needAny(ctx, vmPath(uriVmid(ctx)), priv.anyOf))
  const denied = needVm(ctx, priv)
  if (denied !== undefined) return denied
  return kind === "qemu" && key === "startup" ? needOn(ctx, "/", ["Sys.Modify"]) : undefined
}

/** qemu-server `PVE::QemuServer::Drive` `$NEW_DISK_RE`: `[STORAGE:]SIZE` allocates a new volume. */
const NEW_DISK_RE = /^(([^/:\s]+):)?(\d+(\.\d+)?)$/

/**
 * `$check_storage_access`, the privilege part: a new volume needs Datastore.AllocateSpace on its
 * storage, the host CD-ROM Sys.Console on /, `vmstatestorage` Datastore.AllocateSpace.
 */
export const storagePermission = (ctx: Ctx, sets: ReadonlyMap<string, string>): Reply | undefined => {
  for (const [key, value] of sets) {
    const format = isDriveName(key) ? driveFormat(key) : undefined
    if (format === undefined) continue
    const drive = parsed(format, value)
    const file = drive.get("file") ?? ""
    const cdrom = drive.get("media") === "cdrom"
    const storage = NEW_DISK_RE.exec(file)?.[2]
    const denied = cdrom && file === "cdrom"
      ? needOn(ctx, "/", ["Sys.Console"])
      : !cdrom && storage !== undefined
      ? needOn(ctx, `/storage/${storage}`, ["Datastore.AllocateSpace"])
      : undefined
    if (denied !== undefined) return denied
  }
  const stateStorage = sets.get("vmstatestorage")
  return stateStorage === undefined ? undefined : needOn(ctx, `/storage/${stateStorage}`, ["Datastore.AllocateSpace"])
}

/**
 * `parse_drive`'s checks beyond the schema, each making `$check_drive_param` answer "unable to
 * parse drive options": bps next to mbps, a `*_max` without its base, read/write limits next to
 * the combined one, a CD-ROM with `snapshot` or `format` or on virtio; then its `import-from` rules.
 */
export const driveProblem = (key: string, value: string): string | undefined => {
  const format = driveFormat(key)
  if (format === undefined || /^unused/.test(key)) return undefined
  const d = new Map(parsed(format, value))
  const unparsable = "unable to parse drive options"
  for (const opt of ["bps", "bps_rd", "bps_wr"]) {
    const bps = d.get(opt)
    if (bps === undefined) continue
    d.delete(opt)
    if (d.has(`m${opt}`)) return unparsable
    // PVE stores `sprintf("%.3f", 1 / 1024²)` here (it divides `defined(…)`): a true string.
    d.set(`m${opt}`, "0.000")
  }
  const requirements: ReadonlyArray<readonly [string, string]> = [
    ["mbps_max", "mbps"],
    ["mbps_rd_max", "mbps_rd"],
    ["mbps_wr_max", "mbps_wr"],
    ["miops_max", "miops"],
    ["miops_rd_max", "miops_rd"],
    ["miops_wr_max", "miops_wr"],
    ["bps_max_length", "mbps_max"],
    ["bps_rd_max_length", "mbps_rd_max"],
    ["bps_wr_max_length", "mbps_wr_max"],
    ["iops_max_length", "iops_max"],
    ["iops_rd_max_length", "iops_rd_max"],
    ["iops_wr_max_length", "iops_wr_max"]
  ]
  if (requirements.some(([option, requires]) => truthy(d.get(option)) && !truthy(d.get(requires)))) return unparsable
  const both = (a: string, b: string): boolean => truthy(d.get(a)) && truthy(d.get(b))
  if (both("mbps_rd", "mbps") || both("mbps_wr", "mbps") || both("iops_rd", "iops") || both("iops_wr", "iops")) {
    return unparsable
  }
  if (
    d.get("media") === "cdrom" && (truthy(d.get("snapshot")) || truthy(d.get("format")) || key.startsWith("virtio"))
  ) return unparsable
  if (!truthy(d.get("import-from"))) return undefined
  const m = NEW_DISK_RE.exec(d.get("file") ?? "")
  if (m === null || Number(m[3]) !== 0) {
    return "'import-from' requires special syntax - use <storage ID>:0,import-from=<source>"
  }
  if (key === "efidisk0") {
    const missing = ["efitype", "pre-enrolled-keys"].find((k) => !d.has(k))
    if (missing !== undefined) return `need to specify '${missing}' when using 'import-from'`
  }
  if (key === "tpmstate0" && !d.has("version")) return "need to specify 'version' when using 'import-from'"
  return undefined
}

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

export interface WriteRequest {
  readonly sets: ReadonlyMap<string, string>
  readonly deletes: ReadonlyMap<string, boolean>
}

const current = (g: GuestState, key: string): string | undefined => g.config.get(key) ?? g.pending.get(key)

/** `$update_vm_api`'s delete loop: keys that are not set are skipped with a warning. */
const qemuDeleteChecks = (ctx: Ctx, g: GuestState, key: string): Reply | undefined => {
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
const qemuSetChecks = (ctx: Ctx, g: GuestState, req: WriteRequest, key: string, value: string): Reply | undefined => {
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

/** `check_ct_modify_config_perm` for feature flags: nesting alone wants VM.Allocate, anything else root@pam. */
const featuresPermission = (ctx: Ctx, g: GuestState, value: string | undefined): Reply | undefined => {
  if (!truthy(g.config.get("unprivileged"))) {
    return permFail("changing feature flags for privileged container is only allowed for root@pam")
  }
  const oldValue = g.config.get("features")
  const before = truthy(oldValue) ? parsed(lxcFeaturesFormat, oldValue ?? "") : new Map<string, string>()
  const onlyNesting = (m: ReadonlyMap<string, string>): boolean => m.size === 1 && m.has("nesting")
  let nesting = false
  let other = false
  if (value === undefined) {
    nesting = onlyNesting(before)
    other = !nesting && before.size > 0
  } else {
    const after = truthy(value) ? parsed(lxcFeaturesFormat, value) : new Map<string, string>()
    if (truthy(oldValue)) {
      for (const feature of new Set([...before.keys(), ...after.keys()])) {
        if ((before.get(feature) ?? "") === (after.get(feature) ?? "")) continue
        if (feature === "nesting") nesting = true
        else other = true
      }
    } else {
      nesting = onlyNesting(after)
      other = !nesting && after.size > 0
    }
  }
  if (other) return permFail("changing feature flags (except nesting) is only allowed for root@pam")
  return nesting ? needVm(ctx, ["VM.Allocate"]) : undefined
}

/** `check_ct_modify_config_perm` for rootfs/mpN: a bind or device mount is root@pam's; a new volume wants its storage. */
const mountPermission = (ctx: Ctx, key: string, value: string | undefined): Reply | undefined => {
  const denied = needVm(ctx, ["VM.Config.Disk"])
  const format = lxcVolumeFormat(key)
  if (denied !== undefined || value === undefined || format === undefined) return denied
  const volume = parsed(format, value).get("volume") ?? ""
  const type = volume.startsWith("/") ? (volume.startsWith("/dev/") ? "device" : "bind") : "volume"
  if (type !== "volume") return permFail(`mount point type ${type} is only allowed for root@pam`)
  const storage = /^([^:\s]+):(\d+(\.\d+)?)$/.exec(volume)?.[1]
  return storage === undefined ? undefined : needOn(ctx, `/storage/${storage}`, ["Datastore.AllocateSpace"])
}

const lxcKeyChecks = (ctx: Ctx, g: GuestState, key: string, value: string | undefined): Reply | undefined => {
  if (key === "features") return featuresPermission(ctx, g, value)
  if (key === "rootfs" || /^mp\d+$/.test(key)) return mountPermission(ctx, key, value)
  return undefined
}

/** `update_pct_config`'s network check: SLAAC cannot be host-managed. */
const lxcNetProblem = (key: string, value: string): Reply | undefined => {
  const net = parsed(lxcNetFormat, value)
  return net.get("link_down") !== "1" && truthy(net.get("host-managed")) && net.get("ip6") === "auto"
    ? die(`${key}: SLAAC is not supported for host-managed network configuration.`)
    : undefined
}

/**
 * The value-dependent checks of a write against the loaded guest, in PVE's order: qemu deletes,
 * then sets (sorted, where PVE walks a hash); lxc sets, then deletes, then the network check.
 */
export const applyChecks = (ctx: Ctx, g: GuestState, req: WriteRequest): Reply | undefined => {
  const sets = [...req.sets].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  if (g.kind === "qemu") {
    for (const key of req.deletes.keys()) {
      const r = qemuDeleteChecks(ctx, g, key)
      if (r !== undefined) return r
    }
    for (const [key, value] of sets) {
      const r = qemuSetChecks(ctx, g, req, key, value)
      if (r !== undefined) return r
    }
    return undefined
  }
  for (const [key, value] of sets) {
    const r = lxcKeyChecks(ctx, g, key, value)
    if (r !== undefined) return r
  }
  for (const key of req.deletes.keys()) {
    const r = lxcKeyChecks(ctx, g, key, undefined)
    if (r !== undefined) return r
  }
  for (const [key, value] of sets) {
    const r = /^net\d+$/.test(key) ? lxcNetProblem(key, value) : undefined
    if (r !== undefined) return r
  }
  return undefined
}
