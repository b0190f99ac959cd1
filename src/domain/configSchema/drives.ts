/**
 * qemu drives (ideN, sataN, scsiN, virtioN, efidisk0, tpmstate0) as the config API reads them:
 * the formats of qemu-server `PVE::QemuServer::Drive` (`%drivedesc_base`, the per-bus formats,
 * `$efidisk_fmt`, `$tpmstate_fmt`, with `import-from` as `$drivedesc_hash_with_alloc` adds it);
 * what its `parse_drive` refuses beyond the schema (PVE::API2::Qemu `$check_drive_param` then
 * answers "unable to parse drive options"); `$check_drive_param`'s `import-from` rules; the
 * paths only root@pam may pass (`$check_storage_access` → pve-storage
 * `PVE::Storage::check_volume_access`); and PVE::API2::Qemu `prohibit_tpm_version_change`.
 */
import { checkPropertyString } from "./check.js"
import { FORMATS } from "./formats.js"
import type { KeySpec, PropertyFormat, PropertyMap, SubSpec } from "./spec.js"

/** Perl truthiness of an optional value: absent, "" and "0" are false ("0.0" is true). */
const truthy = (v: string | undefined): boolean => v !== undefined && v !== "" && v !== "0"

const bool: SubSpec = { type: "boolean" }
const oneOf = (...values: ReadonlyArray<string>): SubSpec => ({ type: "string", enum: values })
const each = (names: ReadonlyArray<string>, spec: SubSpec): Record<string, SubSpec> =>
  Object.fromEntries(names.map((n) => [n, spec]))

const file: Readonly<Record<string, SubSpec>> = {
  file: { type: "string", defaultKey: true, required: true, format: FORMATS.volumeIdOrQmPath },
  size: { type: "string", format: FORMATS.diskSize },
  "import-from": { type: "string", format: FORMATS.volumeIdOrAbsolutePath }
}

const BASE: Readonly<Record<string, SubSpec>> = {
  ...file,
  media: oneOf("cdrom", "disk"),
  snapshot: bool,
  cache: oneOf("none", "writethrough", "writeback", "unsafe", "directsync"),
  format: oneOf("raw", "qcow", "qed", "qcow2", "vmdk", "cloop"),
  backup: bool,
  replicate: bool,
  rerror: oneOf("ignore", "report", "stop"),
  werror: oneOf("enospc", "ignore", "report", "stop"),
  aio: oneOf("native", "threads", "io_uring"),
  discard: oneOf("ignore", "on"),
  detect_zeroes: bool,
  serial: { type: "string", format: FORMATS.urlencoded, maxLength: 60 },
  shared: bool,
  ...each(["bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr", "iops_max", "iops_rd_max", "iops_wr_max"], {
    type: "integer"
  }),
  ...each(["mbps", "mbps_rd", "mbps_wr", "mbps_max", "mbps_rd_max", "mbps_wr_max"], { type: "number" }),
  ...each(
    [
      "bps_max_length",
      "bps_rd_max_length",
      "bps_wr_max_length",
      "iops_max_length",
      "iops_rd_max_length",
      "iops_wr_max_length"
    ],
    { type: "integer", minimum: 1, unit: "seconds" }
  )
}

const BASE_ALIASES = {
  volume: { target: "file" },
  bps_rd_length: { target: "bps_rd_max_length" },
  bps_wr_length: { target: "bps_wr_max_length" },
  iops_rd_length: { target: "iops_rd_max_length" },
  iops_wr_length: { target: "iops_wr_max_length" }
}

/**
 * `parse_drive` turns bps into mbps before its checks, so a bps limit counts as the mbps one
 * (it stores "0.000" there, a true value in Perl).
 */
const limit = (d: PropertyMap, key: string): boolean =>
  truthy(d.get(key)) || (/^mbps(_rd|_wr)?$/.test(key) && d.has(key.slice(1)))

const REQUIRES: ReadonlyArray<readonly [string, string]> = [
  ["mbps_max", "mbps"],
  ["mbps_rd_max", "mbps_rd"],
  ["mbps_wr_max", "mbps_wr"],
  ["bps_max_length", "mbps_max"],
  ["bps_rd_max_length", "mbps_rd_max"],
  ["bps_wr_max_length", "mbps_wr_max"],
  ["iops_max_length", "iops_max"],
  ["iops_rd_max_length", "iops_rd_max"],
  ["iops_wr_max_length", "iops_wr_max"]
]
const EXCLUSIVE: ReadonlyArray<readonly [string, string]> = [["mbps", "mbps_rd"], ["mbps", "mbps_wr"], [
  "iops",
  "iops_rd"
], ["iops", "iops_wr"]]

/**
 * `parse_drive`'s throttle rules: one unit per limit, a burst needs its base, combined or split.
 * And a bps limit is refused outright, though PVE accepts it: parse_drive replaces it with its
 * mbps key set to "0.000" whatever the limit was, so it would never read back as desired and
 * every pass would write the drive again.
 */
const throttleProblem = (d: PropertyMap): string | undefined => {
  const twice = ["bps", "bps_rd", "bps_wr"].find((k) => d.has(k) && d.has(`m${k}`))
  if (twice !== undefined) return `${twice} and m${twice} set the same limit: give one of them`
  const bytes = ["bps", "bps_rd", "bps_wr"].find((k) => d.has(k))
  if (bytes !== undefined) {
    return `${bytes} is stored by PVE as m${bytes}=0.000 whatever its value (qemu-server parse_drive), so it ` +
      `would never converge: give m${bytes} in MB/s instead`
  }
  const missing = REQUIRES.find(([option, base]) => truthy(d.get(option)) && !limit(d, base))
  if (missing !== undefined) return `${missing[0]} requires ${missing[1]}`
  const both = EXCLUSIVE.find(([all, part]) => limit(d, all) && limit(d, part))
  return both === undefined
    ? undefined
    : `${both[0]} and ${both[1]} exclude each other: limit the total or reads and writes apart`
}

/** `parse_drive`'s CD-ROM rules; a virtio drive is never one. */
const cdromProblem = (d: PropertyMap, bus: string): string | undefined => {
  if (d.get("media") !== "cdrom") return undefined
  if (bus === "virtio") return "a virtio drive cannot be a CD-ROM (use ide, sata or scsi)"
  const extra = ["snapshot", "format"].filter((k) => truthy(d.get(k)))
  return extra.length === 0 ? undefined : `a CD-ROM takes no ${extra.join(" or ")}`
}

/** qemu-server `PVE::QemuServer::Drive` `$NEW_DISK_RE`: `[STORAGE:]SIZE` allocates a new volume. */
const NEW_DISK_RE = /^(([^/:\s]+):)?(\d+(\.\d+)?)$/

/** `$check_drive_param`: an import creates a new disk (`STORAGE:0`); EFI and TPM state need their type spelled out. */
const importProblem = (d: PropertyMap, needs: ReadonlyArray<string>): string | undefined => {
  if (!truthy(d.get("import-from"))) return undefined
  const m = NEW_DISK_RE.exec(d.get("file") ?? "")
  if (m === null || Number(m[3]) !== 0) {
    return `import-from needs the new disk written as STORAGE:0, got file ${JSON.stringify(d.get("file") ?? "")}`
  }
  const absent = needs.filter((k) => !d.has(k))
  return absent.length === 0 ? undefined : `import-from needs ${absent.join(" and ")} too`
}

const busFormat = (bus: string, extra: Readonly<Record<string, SubSpec>>): PropertyFormat => ({
  keys: { ...BASE, ...extra },
  aliases: BASE_ALIASES,
  validate: (d) => throttleProblem(d) ?? cdromProblem(d, bus) ?? importProblem(d, [])
})

const ssd: Readonly<Record<string, SubSpec>> = { ssd: bool }
const wwn: Readonly<Record<string, SubSpec>> = { wwn: { type: "string", pattern: /^0x[0-9a-fA-F]{16}$/ } }
const iothread: Readonly<Record<string, SubSpec>> = { iothread: bool }
const ro: Readonly<Record<string, SubSpec>> = { ro: bool }

const IDE = busFormat("ide", { model: { type: "string", format: FORMATS.urlencoded, maxLength: 120 }, ...ssd, ...wwn })
const SATA = busFormat("sata", { ...ssd, ...wwn })
// Perl 5.34 and later read the `{,16}` of product and vendor as `{0,16}`.
const SCSI = busFormat("scsi", {
  ...iothread,
  product: { type: "string", pattern: /^[A-Za-z0-9\-_\s]{0,16}$/ },
  queues: { type: "integer", minimum: 2 },
  ...ro,
  scsiblock: bool,
  ...ssd,
  vendor: { type: "string", pattern: /^[A-Za-z0-9\-_\s]{0,8}$/ },
  ...wwn
})
const VIRTIO = busFormat("virtio", { ...iothread, ...ro })
const EFIDISK_FORMAT: PropertyFormat = {
  keys: {
    ...file,
    format: oneOf("raw", "qcow", "qed", "qcow2", "vmdk", "cloop"),
    efitype: oneOf("2m", "4m"),
    "pre-enrolled-keys": bool,
    "ms-cert": oneOf("2011", "2023", "2023w", "2023k")
  },
  aliases: { volume: { target: "file" } },
  validate: (d) => importProblem(d, ["efitype", "pre-enrolled-keys"])
}
// pve-storage `pve-vm-image-format`, narrower than the other drives' formats.
const TPMSTATE_FORMAT: PropertyFormat = {
  keys: { ...file, format: oneOf("raw", "qcow2", "vmdk"), version: oneOf("v1.2", "v2.0") },
  aliases: { volume: { target: "file" } },
  validate: (d) => importProblem(d, ["version"])
}

const ROOT_ONLY =
  "only root@pam may pass a path on the node (pve-storage PVE::Storage::check_volume_access); the agent's API token never counts as root@pam"

/**
 * `$check_storage_access`: a file that is no storage volume (an absolute path, or the node's
 * CD-ROM drive used as a disk) and an import from a path both reach `check_volume_access`.
 * `cdrom` without a media is the CD-ROM drive: `$check_drive_param` runs qemu-server
 * `cleanup_drive_path` first, which sets media=cdrom, and that needs Sys.Console only.
 */
const pathIsRootOnly = (_: string, d: PropertyMap | undefined): string | undefined => {
  const fileValue = d?.get("file") ?? ""
  const media = d?.get("media")
  if (fileValue.startsWith("/") || (fileValue === "cdrom" && media !== undefined && media !== "cdrom")) {
    return `file ${fileValue}: ${ROOT_ONLY}`
  }
  const from = d?.get("import-from") ?? ""
  return from.startsWith("/") ? `import-from ${from}: ${ROOT_ONLY}` : undefined
}

const drive = (format: PropertyFormat): KeySpec => ({
  value: { kind: "property-string", properties: format },
  rootOnly: pathIsRootOnly
})

/** The volume and TPM version of a tpmstate0 value, when it parses. */
const tpm = (value: string): { readonly file: string; readonly version: string } | undefined => {
  const props = checkPropertyString(TPMSTATE_FORMAT, value).props
  const fileValue = props?.get("file")
  return fileValue === undefined ? undefined : { file: fileValue, version: props?.get("version") ?? "v1.2" }
}

const BUSES = { ide: IDE, sata: SATA, scsi: SCSI, virtio: VIRTIO } as const

export const driveSpec = (bus: keyof typeof BUSES): KeySpec => drive(BUSES[bus])

export const EFIDISK: KeySpec = drive(EFIDISK_FORMAT)

export const TPMSTATE: KeySpec = {
  ...drive(TPMSTATE_FORMAT),
  change: (desired, old) => {
    const before = old === undefined ? undefined : tpm(old)
    const after = desired === undefined ? undefined : tpm(desired)
    return before !== undefined && after !== undefined && before.file === after.file && before.version !== after.version
      ? `cannot change the TPM version of ${before.file} from ${before.version} to ${after.version}: PVE fixes it when the state is created (PVE::API2::Qemu prohibit_tpm_version_change)`
      : undefined
  }
}
