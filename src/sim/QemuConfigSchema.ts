/**
 * The qemu config keys as the config API declares them: qemu-server `PVE::QemuServer`
 * `$confdesc` and `$confdesc_cloudinit` (with the `$MAX_NETS`, `$MAX_SERIAL_PORTS`,
 * `$MAX_PARALLEL_PORTS` loops, `$boot_fmt`, `$vga_fmt`, `$watchdog_fmt`, `$audio_fmt`,
 * `$ivshmem_fmt`, `$spice_enhancements_fmt`, `$smbios1_fmt`, `$cicustom_fmt`) and the modules it
 * pulls them from: `::Network` (`$net_fmt`, `$ipconfig_fmt`), `::Memory` (`$memory_fmt`,
 * `$numa_fmt`, `$MAX_NUMA`), `::Agent` `$agent_fmt`, `::Drive` (`%drivedesc_base` and the
 * per-bus formats, `$drivedesc_hash_with_alloc`, `$MAX_UNUSED_DISKS`), `::USB`, `::PCI`,
 * `::RNG`, `::Virtiofs`, `::Machine` `$machine_fmt`, `::CPUConfig` (`$cpu_fmt` with
 * `validate_vm_cpu_conf`, `$sev_fmt`, `$tdx_fmt`, `$arch_desc`), `::CPUFlags`; keyboard layouts
 * from pve-common `PVE::Tools::kvmkeymaplist`. The PUT/POST config parameters are
 * `json_config_properties` with disk allocation: every key but its skip list. Pure.
 *
 * Long because it is a table: one entry per upstream key or format, each to be read against
 * its declaration in qemu-server.
 */
import { isDriveName, pveFormats } from "./Formats.js"
import { formats, type ParamSpec } from "./Params.js"
import { propertyFormat, type PropFormat, type PropValidator, type SubSpec } from "./PropertyFormat.js"

const str = (extra: Partial<SubSpec> = {}): SubSpec => ({ type: "string", ...extra })
const opt = (spec: SubSpec): SubSpec => ({ ...spec, optional: true })
const ostr = (extra: Partial<SubSpec> = {}): SubSpec => opt(str(extra))
const obool: SubSpec = { type: "boolean", optional: true }
const oint = (minimum?: number, maximum?: number): SubSpec => ({
  type: "integer",
  optional: true,
  ...(minimum === undefined ? {} : { minimum }),
  ...(maximum === undefined ? {} : { maximum })
})
const onum = (minimum?: number, maximum?: number): SubSpec => ({
  type: "number",
  optional: true,
  ...(minimum === undefined ? {} : { minimum }),
  ...(maximum === undefined ? {} : { maximum })
})
const alias = (target: string, keyAlias?: string): SubSpec => ({
  type: "string",
  alias: target,
  ...(keyAlias === undefined ? {} : { keyAlias })
})
/** A config key whose value is a property string of `format`. */
const props = (format: PropFormat, validator?: PropValidator): ParamSpec => ({
  type: "string",
  format: propertyFormat(format, validator)
})

export const NIC_MODELS = [
  "e1000",
  "e1000-82540em",
  "e1000-82544gc",
  "e1000-82545em",
  "e1000e",
  "i82551",
  "i82557b",
  "i82559er",
  "ne2k_isa",
  "ne2k_pci",
  "pcnet",
  "rtl8139",
  "virtio",
  "vmxnet3"
] as const

export const netFormat: PropFormat = {
  macaddr: ostr({ format: pveFormats.macAddr }),
  model: str({ enum: NIC_MODELS, defaultKey: true }),
  ...Object.fromEntries(NIC_MODELS.map((m) => [m, alias("macaddr", "model")])),
  bridge: ostr({ format: pveFormats.bridgeId }),
  queues: oint(0, 64),
  rate: onum(0),
  tag: oint(1, 4094),
  trunks: ostr({ pattern: "(?:\\d+(?:-\\d+)?(?:;\\d+(?:-\\d+)?)*)" }),
  firewall: obool,
  link_down: obool,
  mtu: oint(1, 65520),
  "host-tunnel": obool
}

const ipconfigFormat: PropFormat = {
  ip: ostr({ format: pveFormats.ipv4Config }),
  gw: ostr({ format: pveFormats.ipv4, requires: "ip" }),
  ip6: ostr({ format: pveFormats.ipv6Config }),
  gw6: ostr({ format: pveFormats.ipv6, requires: "ip6" })
}

export const memoryFormat: PropFormat = { current: { type: "integer", defaultKey: true, minimum: 16 } }

const agentFormat: PropFormat = {
  enabled: { type: "boolean", defaultKey: true },
  fstrim_cloned_disks: obool,
  "freeze-fs-on-backup": alias("freeze-fs"),
  "guest-fsfreeze": alias("freeze-fs"),
  "freeze-fs": obool,
  type: ostr({ enum: ["virtio", "isa"] })
}

export const bootFormat: PropFormat = {
  legacy: ostr({ defaultKey: true, pattern: "[acdn]{1,4}" }),
  order: ostr({ format: pveFormats.bootdevList })
}

export const vgaFormat: PropFormat = {
  type: ostr({
    defaultKey: true,
    enum: [
      "cirrus",
      "qxl",
      "qxl2",
      "qxl3",
      "qxl4",
      "none",
      "serial0",
      "serial1",
      "serial2",
      "serial3",
      "std",
      "virtio",
      "virtio-gl",
      "vmware"
    ]
  }),
  memory: oint(4, 512),
  clipboard: ostr({ enum: ["vnc"] })
}

const watchdogFormat: PropFormat = {
  model: ostr({ defaultKey: true, enum: ["i6300esb", "ib700"] }),
  action: ostr({ enum: ["reset", "shutdown", "poweroff", "pause", "debug", "none"] })
}

const audioFormat: PropFormat = {
  device: str({ enum: ["ich9-intel-hda", "intel-hda", "AC97"] }),
  driver: ostr({ enum: ["spice", "none"] })
}

export const rngFormat: PropFormat = {
  source: str({ enum: ["/dev/urandom", "/dev/random", "/dev/hwrng"], defaultKey: true }),
  max_bytes: oint(),
  period: oint()
}

const ID_SET = "(?:\\d+(?:-\\d+)?(?:;\\d+(?:-\\d+)?)*)"
const numaFormat: PropFormat = {
  cpus: str({ pattern: ID_SET }),
  memory: { type: "number", optional: true },
  hostnodes: ostr({ pattern: ID_SET }),
  policy: ostr({ enum: ["preferred", "bind", "interleave"] })
}

export const virtiofsFormat: PropFormat = {
  dirid: str({ defaultKey: true, format: pveFormats.configId }),
  cache: ostr({ enum: ["auto", "always", "metadata", "never"] }),
  "direct-io": obool,
  "expose-xattr": obool,
  "expose-acl": obool
}

const USB_ID = "(?:(?:0x)?(?:[0-9A-Fa-f]{4}):(?:0x)?(?:[0-9A-Fa-f]{4}))"
const USB_PATH = "(?:(?:\\d+)-(?:\\d+(?:\\.\\d+)*))"
export const usbFormat: PropFormat = {
  host: ostr({ defaultKey: true, pattern: `(?:(?:(?:${USB_ID})|(?:${USB_PATH})|[Ss][Pp][Ii][Cc][Ee]))` }),
  mapping: ostr({ format: pveFormats.configId }),
  usb3: obool
}

const PCI_ID = "(?:(?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\\.[a-f0-9])?)"
const PCI_HEX_ID = "(?:^0x[0-9a-fA-F]{4}$)"
export const hostpciFormat: PropFormat = {
  host: ostr({ defaultKey: true, pattern: `(?:${PCI_ID}(;${PCI_ID})*)` }),
  mapping: ostr({ format: pveFormats.configId }),
  rombar: obool,
  romfile: ostr({ pattern: "[^,;]+" }),
  pcie: obool,
  "x-vga": obool,
  "legacy-igd": obool,
  mdev: ostr({ pattern: "[^/\\.:]+" }),
  "vendor-id": ostr({ pattern: PCI_HEX_ID }),
  "device-id": ostr({ pattern: PCI_HEX_ID }),
  "sub-vendor-id": ostr({ pattern: PCI_HEX_ID }),
  "sub-device-id": ostr({ pattern: PCI_HEX_ID }),
  driver: ostr({ enum: ["vfio", "keep"] })
}

export const machineFormat: PropFormat = {
  type: ostr({
    defaultKey: true,
    maxLength: 40,
    pattern:
      "(pc|pc(-i440fx)?-\\d+(\\.\\d+)+(\\+pve\\d+)?(\\.pxe)?|q35|pc-q35-\\d+(\\.\\d+)+(\\+pve\\d+)?(\\.pxe)?|virt(?:-\\d+(\\.\\d+)+)?(\\+pve\\d+)?)"
  }),
  viommu: ostr({ enum: ["intel", "virtio"] }),
  "aw-bits": onum(32, 64),
  "enable-s3": obool,
  "enable-s4": obool
}

/**
 * The CPU models `PVE::QemuServer::CPUConfig` knows without the QEMU package's model files (its
 * hard-coded fallback list), the host model, and its built-in `x86-64-v*` models.
 */
const CPU_MODELS: ReadonlySet<string> = new Set([
  "486",
  "pentium",
  "pentium2",
  "pentium3",
  "coreduo",
  "core2duo",
  "Conroe",
  "Penryn",
  "Nehalem",
  "Nehalem-IBRS",
  "Westmere",
  "Westmere-IBRS",
  "SandyBridge",
  "SandyBridge-IBRS",
  "IvyBridge",
  "IvyBridge-IBRS",
  "Haswell",
  "Haswell-IBRS",
  "Haswell-noTSX",
  "Haswell-noTSX-IBRS",
  "Broadwell",
  "Broadwell-IBRS",
  "Broadwell-noTSX",
  "Broadwell-noTSX-IBRS",
  "Skylake-Client",
  "Skylake-Client-IBRS",
  "Skylake-Client-noTSX-IBRS",
  "Skylake-Client-v4",
  "Skylake-Server",
  "Skylake-Server-IBRS",
  "Skylake-Server-noTSX-IBRS",
  "Skylake-Server-v4",
  "Skylake-Server-v5",
  "Cascadelake-Server",
  "Cascadelake-Server-v2",
  "Cascadelake-Server-noTSX",
  "Cascadelake-Server-v4",
  "Cascadelake-Server-v5",
  "Cooperlake",
  "Cooperlake-v2",
  "KnightsMill",
  "Icelake-Client",
  "Icelake-Client-noTSX",
  "Icelake-Server",
  "Icelake-Server-noTSX",
  "Icelake-Server-v3",
  "Icelake-Server-v4",
  "Icelake-Server-v5",
  "Icelake-Server-v6",
  "Icelake-Server-v7",
  "SapphireRapids",
  "SapphireRapids-v2",
  "SapphireRapids-v3",
  "SapphireRapids-v4",
  "GraniteRapids",
  "GraniteRapids-v2",
  "GraniteRapids-v3",
  "SierraForest",
  "SierraForest-v2",
  "SierraForest-v3",
  "ClearwaterForest",
  "athlon",
  "phenom",
  "Opteron_G1",
  "Opteron_G2",
  "Opteron_G3",
  "Opteron_G4",
  "Opteron_G5",
  "EPYC",
  "EPYC-IBPB",
  "EPYC-v3",
  "EPYC-v4",
  "EPYC-v5",
  "EPYC-Rome",
  "EPYC-Rome-v2",
  "EPYC-Rome-v3",
  "EPYC-Rome-v4",
  "EPYC-Rome-v5",
  "EPYC-Milan",
  "EPYC-Milan-v2",
  "EPYC-Milan-v3",
  "EPYC-Genoa",
  "EPYC-Genoa-v2",
  "EPYC-Turin",
  "kvm32",
  "kvm64",
  "qemu32",
  "qemu64",
  "max",
  "a64fx",
  "cortex-a35",
  "cortex-a53",
  "cortex-a55",
  "cortex-a57",
  "cortex-a710",
  "cortex-a72",
  "cortex-a76",
  "neoverse-n1",
  "neoverse-n2",
  "neoverse-v1",
  "host"
])
const BUILTIN_CPU_MODELS: ReadonlySet<string> = new Set(["x86-64-v2", "x86-64-v2-AES", "x86-64-v3", "x86-64-v4"])
/** `PVE::QemuServer::CPUFlags` flags a VM's own `flags` may set, sorted as `supported_cpu_flags_names`. */
const VM_CPU_FLAGS = [
  "aes",
  "amd-no-ssb",
  "amd-ssbd",
  "hv-evmcs",
  "hv-tlbflush",
  "ibpb",
  "md-clear",
  "nested-virt",
  "pcid",
  "pdpe1gb",
  "spec-ctrl",
  "ssbd",
  "virt-ssbd"
]
const CPU_FLAG = "(?:([+-])([a-zA-Z0-9\\-_\\.]+))"
const VM_CPU_FLAG = `(?:([+-])(${VM_CPU_FLAGS.join("|")}))`

const cpuFormat: PropFormat = {
  cputype: ostr({ defaultKey: true }),
  "reported-model": ostr({
    enum: [...CPU_MODELS].sort((
      a,
      b
    ) => (a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0))
  }),
  hidden: obool,
  "hv-vendor-id": ostr({ pattern: "(?:[a-zA-Z0-9]{1,12})" }),
  flags: ostr({ pattern: `(?:${CPU_FLAG}(;${CPU_FLAG})*)` }),
  "guest-phys-bits": oint(32, 64),
  "phys-bits": ostr({ format: pveFormats.physBits }),
  level: oint(0, 4294967295)
}

/** `validate_vm_cpu_conf`; the simulator has no custom models (virtual-guest/cpu-models.conf is empty). */
const validateVmCpu: PropValidator = (cpu) => {
  const type = cpu.get("cputype")
  if (type === undefined || type === "" || type === "0") return "CPU is missing cputype\n"
  if (type.startsWith("custom-")) return `Custom cputype '${type.slice("custom-".length)}' not found\n`
  if (!CPU_MODELS.has(type) && !BUILTIN_CPU_MODELS.has(type)) {
    return `Built-in cputype '${type}' is not defined (missing 'custom-' prefix?)\n`
  }
  const flags = cpu.get("flags")
  if (
    flags !== undefined && flags !== "" && flags !== "0" &&
    !new RegExp(`^${VM_CPU_FLAG}(;${VM_CPU_FLAG})*$`).test(flags)
  ) {
    return `VM-specific CPU flags must be a subset of: ${VM_CPU_FLAGS.join(", ")}\n`
  }
  if (cpu.has("reported-model")) return "Property 'reported-model' not allowed in VM-specific CPU config.\n"
  return undefined
}

const sevFormat: PropFormat = {
  type: str({ defaultKey: true, enum: ["std", "es", "snp"], maxLength: 3 }),
  "no-debug": obool,
  "no-key-sharing": obool,
  "allow-smt": obool,
  "kernel-hashes": obool
}

const tdxFormat: PropFormat = {
  type: str({ defaultKey: true, enum: ["tdx"] }),
  attestation: { type: "boolean" },
  "vsock-cid": oint(2),
  "vsock-port": oint(0)
}

const ivshmemFormat: PropFormat = { size: { type: "integer", minimum: 1 }, name: ostr({ pattern: "[a-zA-Z0-9\\-]+" }) }

const spiceEnhancementsFormat: PropFormat = {
  foldersharing: obool,
  videostreaming: ostr({ enum: ["off", "all", "filter"] })
}

const BASE64 = "[A-Za-z0-9+\\/]+={0,2}"
const smbios1Format: PropFormat = {
  uuid: ostr({ pattern: "[a-fA-F0-9]{8}(?:-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12}" }),
  version: ostr({ pattern: BASE64 }),
  serial: ostr({ pattern: BASE64 }),
  manufacturer: ostr({ pattern: BASE64 }),
  product: ostr({ pattern: BASE64 }),
  sku: ostr({ pattern: BASE64 }),
  family: ostr({ pattern: BASE64 }),
  base64: obool
}

const cicustomFormat: PropFormat = {
  meta: ostr({ format: pveFormats.volumeId }),
  network: ostr({ format: pveFormats.volumeId }),
  user: ostr({ format: pveFormats.volumeId }),
  vendor: ostr({ format: pveFormats.volumeId })
}

const throttle = (keys: ReadonlyArray<string>, spec: SubSpec): Record<string, SubSpec> =>
  Object.fromEntries(keys.map((k) => [k, spec]))

const driveFile = { volume: alias("file"), file: str({ format: pveFormats.volumeIdOrQmPath, defaultKey: true }) }
const imageFormat = ostr({ enum: ["raw", "qcow", "qed", "qcow2", "vmdk", "cloop"] })
const diskSize = ostr({ format: pveFormats.diskSize })

const driveBase: PropFormat = {
  ...driveFile,
  media: ostr({ enum: ["cdrom", "disk"] }),
  snapshot: obool,
  cache: ostr({ enum: ["none", "writethrough", "writeback", "unsafe", "directsync"] }),
  format: imageFormat,
  size: diskSize,
  backup: obool,
  replicate: obool,
  rerror: ostr({ enum: ["ignore", "report", "stop"] }),
  werror: ostr({ enum: ["enospc", "ignore", "report", "stop"] }),
  aio: ostr({ enum: ["native", "threads", "io_uring"] }),
  discard: ostr({ enum: ["ignore", "on"] }),
  detect_zeroes: obool,
  serial: ostr({ format: pveFormats.urlencoded, maxLength: 60 }),
  shared: obool,
  ...throttle(
    ["bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr", "iops_max", "iops_rd_max", "iops_wr_max"],
    oint()
  ),
  ...throttle(["mbps", "mbps_rd", "mbps_wr", "mbps_max", "mbps_rd_max", "mbps_wr_max"], onum()),
  ...throttle([
    "bps_max_length",
    "bps_rd_max_length",
    "bps_wr_max_length",
    "iops_max_length",
    "iops_rd_max_length",
    "iops_wr_max_length"
  ], oint(1)),
  bps_rd_length: alias("bps_rd_max_length"),
  bps_wr_length: alias("bps_wr_max_length"),
  iops_rd_length: alias("iops_rd_max_length"),
  iops_wr_length: alias("iops_wr_max_length")
}
// Perl reads `{,16}` as `{0,16}`.
const product = { product: ostr({ pattern: "[A-Za-z0-9\\-_\\s]{0,16}" }) }
const vendor = { vendor: ostr({ pattern: "[A-Za-z0-9\\-_\\s]{0,8}" }) }
const model = { model: ostr({ format: pveFormats.urlencoded, maxLength: 120 }) }
const ssd = { ssd: obool }
const wwn = { wwn: ostr({ pattern: "(?:^(0x)[0-9a-fA-F]{16})" }) }
const iothread = { iothread: obool }
const ro = { ro: obool }
const importFrom = { "import-from": ostr({ format: pveFormats.volumeIdOrAbsolutePath }) }

const ideFormat: PropFormat = { ...driveBase, ...model, ...ssd, ...wwn }
const DRIVE_FORMATS: Readonly<Record<string, PropFormat>> = {
  ide: { ...ideFormat, ...importFrom },
  sata: { ...driveBase, ...ssd, ...wwn, ...importFrom },
  scsi: {
    ...driveBase,
    ...iothread,
    ...product,
    queues: oint(2),
    ...ro,
    scsiblock: obool,
    ...ssd,
    ...vendor,
    ...wwn,
    ...importFrom
  },
  virtio: { ...driveBase, ...iothread, ...ro, ...importFrom },
  efidisk: {
    ...driveFile,
    format: imageFormat,
    size: diskSize,
    efitype: ostr({ enum: ["2m", "4m"] }),
    "pre-enrolled-keys": obool,
    "ms-cert": ostr({ enum: ["2011", "2023", "2023w", "2023k"] }),
    ...importFrom
  },
  tpmstate: {
    ...driveFile,
    format: ostr({ enum: ["raw", "qcow2", "vmdk"] }),
    size: diskSize,
    version: ostr({ enum: ["v1.2", "v2.0"] }),
    ...importFrom
  },
  unused: { volume: alias("file"), file: str({ format: pveFormats.volumeId, defaultKey: true }) }
}

/** The format of a drive key (`scsi0`, `efidisk0`, `unused3`) as the config API checks it. */
export const driveFormat = (key: string): PropFormat | undefined =>
  isDriveName(key) || /^unused\d+$/.test(key) ? DRIVE_FORMATS[key.replace(/\d+$/, "")] : undefined

const KEYBOARDS = [
  "de",
  "de-ch",
  "da",
  "en-gb",
  "en-us",
  "es",
  "fi",
  "fr",
  "fr-be",
  "fr-ca",
  "fr-ch",
  "hu",
  "is",
  "it",
  "ja",
  "lt",
  "mk",
  "nl",
  "no",
  "pl",
  "pt",
  "pt-br",
  "sv",
  "sl",
  "tr"
]

const b: ParamSpec = { type: "boolean" }
const s = (extra: Partial<ParamSpec> = {}): ParamSpec => ({ type: "string", ...extra })
const int = (minimum?: number, maximum?: number): ParamSpec => oint(minimum, maximum)
const num = (minimum?: number, maximum?: number): ParamSpec => onum(minimum, maximum)

const KEYS: Readonly<Record<string, ParamSpec>> = {
  onboot: b,
  autostart: b,
  hotplug: s({ format: pveFormats.hotplugFeatures }),
  reboot: b,
  lock: s({
    enum: ["backup", "clone", "create", "migrate", "rollback", "snapshot", "snapshot-delete", "suspending", "suspended"]
  }),
  cpulimit: num(0, 128),
  cpuunits: int(1, 262144),
  memory: props(memoryFormat),
  "amd-sev": props(sevFormat),
  "intel-tdx": props(tdxFormat),
  balloon: int(0),
  shares: int(0, 50000),
  keyboard: s({ enum: KEYBOARDS }),
  name: s({ format: formats.dnsName }),
  scsihw: s({ enum: ["lsi", "lsi53c810", "virtio-scsi-pci", "virtio-scsi-single", "megasas", "pvscsi"] }),
  description: s({ maxLength: 8192 }),
  ostype: s({
    enum: ["other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11", "l24", "l26", "solaris"]
  }),
  boot: props(bootFormat),
  bootdisk: s({ format: pveFormats.bootdisk, pattern: "(ide|sata|scsi|virtio)\\d+" }),
  smp: int(1),
  sockets: int(1),
  cores: int(1),
  numa: b,
  hugepages: s({ enum: ["any", "2", "1024"] }),
  keephugepages: b,
  vcpus: int(1),
  acpi: b,
  agent: props(agentFormat),
  kvm: b,
  tdf: b,
  localtime: b,
  freeze: b,
  vga: props(vgaFormat),
  watchdog: props(watchdogFormat),
  startdate: s({ pattern: "(now|\\d{4}-\\d{1,2}-\\d{1,2}(T\\d{1,2}:\\d{1,2}:\\d{1,2})?)" }),
  startup: s({ format: pveFormats.startupOrder }),
  template: b,
  args: s(),
  tablet: b,
  migrate_speed: int(0),
  migrate_downtime: num(0),
  cdrom: props(ideFormat),
  cpu: props(cpuFormat, validateVmCpu),
  vmstatestorage: s({ format: pveFormats.storageId }),
  machine: props(machineFormat),
  arch: s({ enum: ["x86_64", "aarch64"] }),
  smbios1: { ...props(smbios1Format), maxLength: 512 },
  protection: b,
  bios: s({ enum: ["seabios", "ovmf"] }),
  vmgenid: s({ pattern: "(?:[a-fA-F0-9]{8}(?:-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12}|[01])" }),
  hookscript: s({ format: pveFormats.volumeId }),
  ivshmem: props(ivshmemFormat),
  audio0: props(audioFormat),
  spice_enhancements: props(spiceEnhancementsFormat),
  tags: s({ format: formats.tagList }),
  rng0: props(rngFormat),
  affinity: s({ format: pveFormats.cpuset }),
  "allow-ksm": b,
  citype: s({ enum: ["configdrive2", "nocloud", "opennebula"] }),
  ciuser: s(),
  cipassword: s(),
  ciupgrade: b,
  cicustom: props(cicustomFormat),
  searchdomain: s(),
  nameserver: s({ format: pveFormats.addressList }),
  sshkeys: s({ format: pveFormats.urlencoded })
}

/** `$confdesc` keys `json_config_properties` leaves out of the config API: deletable, never set. */
const INTERNAL: Readonly<Record<string, ParamSpec>> = {
  parent: s({ format: formats.snapshotName, maxLength: 40 }),
  snaptime: int(0),
  vmstate: s({ format: pveFormats.volumeId }),
  runningmachine: props(machineFormat),
  runningcpu: s(),
  "running-nets-host-mtu": s({ pattern: "net\\d+=\\d+(,net\\d+=\\d+)*" }),
  meta: s()
}

const FAMILIES: ReadonlyArray<readonly [RegExp, ParamSpec]> = [
  [/^numa[0-7]$/, props(numaFormat)],
  [/^virtiofs[0-9]$/, props(virtiofsFormat)],
  [/^net([0-9]|[12][0-9]|3[01])$/, props(netFormat)],
  [/^ipconfig([0-9]|[12][0-9]|3[01])$/, props(ipconfigFormat)],
  [/^parallel[0-2]$/, s({ pattern: "/dev/parport\\d+|/dev/usb/lp\\d+" })],
  [/^serial[0-3]$/, s({ pattern: "(/dev/[^,]+|socket)" })],
  [/^hostpci([0-9]|1[0-5])$/, props(hostpciFormat)],
  [/^usb([0-9]|1[0-3])$/, props(usbFormat)]
]

const own = (record: Readonly<Record<string, ParamSpec>>, key: string): ParamSpec | undefined =>
  Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined

/** The spec of a key the qemu config API takes a value for. */
export const qemuSettableSpec = (key: string): ParamSpec | undefined => {
  const fixed = own(KEYS, key)
  if (fixed !== undefined) return fixed
  const drive = /^unused([0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])$/.test(key) || isDriveName(key)
    ? driveFormat(key)
    : undefined
  if (drive !== undefined) return props(drive)
  return FAMILIES.find(([re]) => re.test(key))?.[1]
}

/** The spec of any `$confdesc` key (`option_exists`), settable or not. */
export const qemuOptionSpec = (key: string): ParamSpec | undefined => qemuSettableSpec(key) ?? own(INTERNAL, key)
