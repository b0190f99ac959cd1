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
 *
 * Here: the checks before the config is loaded (per key, per new volume, per drive value) and
 * the order PVE runs the value-dependent ones in; those are QemuConfigChecks.ts and
 * LxcConfigChecks.ts.
 */
import { keyInfo } from "../ConfigKeys.js"
import { isDriveName } from "../Formats.js"
import type { GuestKind, GuestState } from "../GuestState.js"
import { driveFormat } from "../QemuConfigSchema.js"
import { die, permFail, type Reply } from "../Reply.js"
import { needOn, needVm, orUndefined, parsed, truthy, type WriteRequest } from "./ConfigCheckBasics.js"
import { type Ctx, needAny, uriVmid, vmPath } from "./Context.js"
import { lxcKeyChecks, lxcNetProblem } from "./LxcConfigChecks.js"
import { qemuDeleteChecks, qemuSetChecks } from "./QemuConfigChecks.js"

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
