/**
 * The qemu config keys a desired document may name, read from qemu-server (9.2.6):
 * PVE::QemuServer `$confdesc`/`$confdesc_cloudinit` (scalars, limits, enums, the `$MAX_NETS`,
 * `$MAX_SERIAL_PORTS`, `$MAX_PARALLEL_PORTS` loops, `$vga_fmt` with `assert_clipboard_config`),
 * PVE::QemuServer::Drive `$MAX_*_DISKS` (drive formats in drives.ts), ::Network (`$net_fmt`,
 * `$ipconfig_fmt`), ::Memory (`$memory_fmt`, `$MAX_NUMA`, `$numa_fmt`), ::Agent `$agent_fmt`,
 * ::USB `$MAX_USB_DEVICES`, ::PCI `$MAX_HOSTPCI_DEVICES`, ::Virtiofs `$MAX_VIRTIOFS` (their
 * formats in passthrough.ts), ::RNG `$rng_fmt`, ::Machine `$machine_fmt` with
 * `assert_valid_machine_property`, ::CPUConfig `$arch_desc` (`cpu` in cpu.ts); keyboard
 * layouts from pve-common PVE::Tools `kvmkeymaplist`; `sshkeys` in sshKeys.ts. Who may set
 * what: PVE::API2::Qemu `$check_vm_modify_config_perm` (keys in none of its option lists are
 * root-only); keys not accepted at all: PVE::QemuServer `json_config_properties` (its skip
 * list).
 *
 * Long because it is a table: one entry per key, each read against its upstream declaration;
 * the formats it shares with other keys already live in the sibling modules named above.
 */
import { CPU } from "./cpu.js"
import { driveSpec, EFIDISK, TPMSTATE } from "./drives.js"
import { FORMATS, makeFormat, splitList } from "./formats.js"
import { HOSTPCI, SERIAL, USB, VIRTIOFS } from "./passthrough.js"
import {
  bool,
  type GuestConfigSchema,
  int,
  type KeyFamily,
  num,
  oneOf,
  type PropertyFormat,
  type PropertyMap,
  props,
  type Refusal,
  refuse,
  str
} from "./spec.js"
import { sshPublicKeys } from "./sshKeys.js"

const DISKS = { ide: 4, sata: 6, scsi: 31, virtio: 16 } as const
const NETS = 32
const USBS = 14
const HOSTPCIS = 16

const inFamily = (key: string, prefix: string, count: number): boolean => {
  const m = new RegExp(`^${prefix}(0|[1-9][0-9]*)$`).exec(key)
  return m !== null && Number(m[1]) < count
}
const isDriveName = (d: string): boolean =>
  Object.entries(DISKS).some(([p, n]) => inFamily(d, p, n)) || d === "efidisk0" || d === "tpmstate0"

/** PVE::QemuServer `verify_bootdev`: a disk (not efidisk/tpmstate), netN, usbN or hostpciN. */
const bootdevList = makeFormat("qm-bootdev-list", (v) => {
  const bad = splitList(v).find((d) =>
    !((isDriveName(d) && d !== "efidisk0" && d !== "tpmstate0") || inFamily(d, "net", NETS) ||
      inFamily(d, "usb", USBS) || inFamily(d, "hostpci", HOSTPCIS))
  )
  return bad === undefined ? undefined : `invalid boot device ${JSON.stringify(bad)}`
})
const bootdisk = makeFormat(
  "qm-bootdisk",
  (v) => (isDriveName(v) ? undefined : `invalid boot disk ${JSON.stringify(v)}`)
)

/** qemu's NIC models (qemu-server `PVE::QemuServer::Network` `$nic_model_list`). */
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

const net: PropertyFormat = {
  keys: {
    model: { type: "string", enum: NIC_MODELS, required: true, defaultKey: true },
    macaddr: { type: "string", format: FORMATS.macAddr },
    bridge: { type: "string", format: FORMATS.bridgeId },
    queues: { type: "integer", minimum: 0, maximum: 64 },
    rate: { type: "number", minimum: 0, unit: "MB/s" },
    tag: { type: "integer", minimum: 1, maximum: 4094 },
    trunks: { type: "string", pattern: /^\d+(?:-\d+)?(?:;\d+(?:-\d+)?)*$/ },
    firewall: { type: "boolean" },
    link_down: { type: "boolean" },
    mtu: { type: "integer", minimum: 1, maximum: 65520 },
    "host-tunnel": { type: "boolean" }
  },
  aliases: Object.fromEntries(NIC_MODELS.map((m) => [m, { target: "macaddr", keyAlias: "model" }]))
}

const ipconfig: PropertyFormat = {
  keys: {
    ip: { type: "string", format: FORMATS.ipv4Config },
    gw: { type: "string", format: FORMATS.ipv4, requires: "ip" },
    ip6: { type: "string", format: FORMATS.ipv6Config },
    gw6: { type: "string", format: FORMATS.ipv6, requires: "ip6" }
  }
}

const NUMBER_SETS = /^\d+(?:-\d+)?(?:;\d+(?:-\d+)?)*$/
const numa: PropertyFormat = {
  keys: {
    cpus: { type: "string", pattern: NUMBER_SETS, required: true },
    memory: { type: "number" },
    hostnodes: { type: "string", pattern: NUMBER_SETS },
    policy: { type: "string", enum: ["preferred", "bind", "interleave"] }
  }
}

const volume = { type: "string", format: FORMATS.volumeId } as const

/** Perl truthiness of an optional value. */
const truthy = (v: string | undefined): boolean => v !== undefined && v !== "" && v !== "0"

/** PVE::QemuServer::Machine `assert_valid_machine_property`. */
const machineProblem = (m: PropertyMap): string | undefined => {
  const bits = m.get("aw-bits")
  if (m.get("viommu") === "intel") {
    if (!/q35/.test(m.get("type") ?? "")) return "viommu=intel needs a q35 machine type"
    if (truthy(bits) && Number(bits) !== 39 && Number(bits) !== 48) {
      return `aw-bits: the Intel vIOMMU takes 39 or 48, got ${bits ?? ""}`
    }
  }
  return truthy(bits) && !truthy(m.get("viommu")) ? "aw-bits needs a vIOMMU (viommu=intel or viommu=virtio)" : undefined
}

const ROOT_ONLY =
  "only root@pam may set it (PVE::API2::Qemu $check_vm_modify_config_perm); the agent's API token never counts as root@pam"
const rootOnly = refuse("root-only", ROOT_ONLY)
const NOT_ACCEPTED =
  "PVE maintains it and its config API does not accept it (PVE::QemuServer json_config_properties skip list)"
const notSettable: Refusal = refuse("not-settable", NOT_ACCEPTED)

const families: ReadonlyArray<KeyFamily> = [
  { prefix: "net", count: NETS, spec: props(net) },
  { prefix: "ipconfig", count: NETS, spec: props(ipconfig) },
  { prefix: "numa", count: 8, spec: props(numa) },
  { prefix: "virtiofs", count: 10, spec: VIRTIOFS },
  { prefix: "ide", count: DISKS.ide, spec: driveSpec("ide") },
  { prefix: "sata", count: DISKS.sata, spec: driveSpec("sata") },
  { prefix: "scsi", count: DISKS.scsi, spec: driveSpec("scsi") },
  { prefix: "virtio", count: DISKS.virtio, spec: driveSpec("virtio") },
  { prefix: "serial", count: 4, spec: SERIAL },
  { prefix: "usb", count: USBS, spec: USB },
  { prefix: "hostpci", count: HOSTPCIS, spec: HOSTPCI }
]

export const QEMU_SCHEMA: GuestConfigSchema = {
  keys: {
    // General options (VM.Config.Options).
    name: str({ format: FORMATS.dnsName }),
    description: str({ maxLength: 8192, multiline: true }),
    tags: str({ format: FORMATS.tagList, multiline: true }),
    onboot: bool,
    autostart: bool,
    reboot: bool,
    protection: bool,
    template: bool,
    startup: str({ format: FORMATS.startupOrder }),
    startdate: str({ pattern: /^(now|\d{4}-\d{1,2}-\d{1,2}(T\d{1,2}:\d{1,2}:\d{1,2})?)$/ }),
    ostype: oneOf(
      "other",
      "wxp",
      "w2k",
      "w2k3",
      "w2k8",
      "wvista",
      "win7",
      "win8",
      "win10",
      "win11",
      "l24",
      "l26",
      "solaris"
    ),
    keyboard: oneOf(
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
    ),
    bios: oneOf("seabios", "ovmf"),
    localtime: bool,
    tdf: bool,
    migrate_speed: int(0, undefined, "MB/s"),
    migrate_downtime: num(0),
    agent: props({
      keys: {
        enabled: { type: "boolean", defaultKey: true, required: true },
        fstrim_cloned_disks: { type: "boolean" },
        "freeze-fs": { type: "boolean" },
        type: { type: "string", enum: ["virtio", "isa"] }
      },
      aliases: { "freeze-fs-on-backup": { target: "freeze-fs" }, "guest-fsfreeze": { target: "freeze-fs" } }
    }),
    freeze: bool,
    // CPU (VM.Config.CPU); cpuunits is clamped by pve-common PVE::CGroup clamp_cpu_shares.
    sockets: int(1),
    cores: int(1),
    vcpus: int(1),
    numa: bool,
    cpulimit: num(0, 128),
    cpuunits: {
      value: {
        kind: "integer",
        minimum: 1,
        maximum: 262144,
        clamp: {
          above: 10000,
          why:
            "on cgroup v2 hosts PVE stores larger values as 10000 (pve-common PVE::CGroup clamp_cpu_shares), so it would never read back"
        }
      }
    },
    cpu: CPU,
    // Memory (VM.Config.Memory).
    memory: props({
      keys: { current: { type: "integer", minimum: 16, unit: "MiB", defaultKey: true, required: true } }
    }),
    balloon: int(0, undefined, "MiB"),
    shares: int(0, 50000),
    "allow-ksm": bool,
    // Hardware (VM.Config.HWType).
    acpi: bool,
    kvm: bool,
    tablet: bool,
    hotplug: str({ format: FORMATS.hotplugFeatures }),
    scsihw: oneOf("lsi", "lsi53c810", "virtio-scsi-pci", "virtio-scsi-single", "megasas", "pvscsi"),
    machine: props({
      keys: {
        type: {
          type: "string",
          defaultKey: true,
          maxLength: 40,
          pattern:
            /^(pc|pc(-i440fx)?-\d+(\.\d+)+(\+pve\d+)?(\.pxe)?|q35|pc-q35-\d+(\.\d+)+(\+pve\d+)?(\.pxe)?|virt(?:-\d+(\.\d+)+)?(\+pve\d+)?)$/
        },
        viommu: { type: "string", enum: ["intel", "virtio"] },
        "aw-bits": { type: "number", minimum: 32, maximum: 64 },
        "enable-s3": { type: "boolean" },
        "enable-s4": { type: "boolean" }
      },
      validate: machineProblem
    }),
    vga: props({
      keys: {
        type: {
          type: "string",
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
        },
        memory: { type: "integer", minimum: 4, maximum: 512, unit: "MiB" },
        clipboard: { type: "string", enum: ["vnc"] }
      },
      // PVE::QemuServer `assert_clipboard_config`: the VNC clipboard needs a display that carries it.
      validate: (v) =>
        v.get("clipboard") === "vnc" && truthy(v.get("type")) &&
          !/^(std|cirrus|vmware|virtio|qxl)/.test(v.get("type") ?? "")
          ? `clipboard=vnc needs a display of type std, cirrus, vmware, virtio or qxl, not ${v.get("type") ?? ""}`
          : undefined
    }),
    watchdog: props({
      keys: {
        model: { type: "string", defaultKey: true, enum: ["i6300esb", "ib700"] },
        action: { type: "string", enum: ["reset", "shutdown", "poweroff", "pause", "debug", "none"] }
      }
    }),
    audio0: props({
      keys: {
        device: { type: "string", enum: ["ich9-intel-hda", "intel-hda", "AC97"], required: true },
        driver: { type: "string", enum: ["spice", "none"] }
      }
    }),
    rng0: props({
      keys: {
        source: {
          type: "string",
          enum: ["/dev/urandom", "/dev/random", "/dev/hwrng"],
          defaultKey: true,
          required: true
        },
        max_bytes: { type: "integer" },
        period: { type: "integer" }
      }
    }),
    // Disks and boot (VM.Config.Disk).
    boot: props({
      keys: {
        legacy: { type: "string", defaultKey: true, pattern: /^[acdn]{1,4}$/ },
        order: { type: "string", format: bootdevList }
      }
    }),
    bootdisk: str({ format: bootdisk, pattern: /^(ide|sata|scsi|virtio)\d+$/ }),
    vmstatestorage: str({ format: FORMATS.storageId }),
    efidisk0: EFIDISK,
    tpmstate0: TPMSTATE,
    // Cloud-init (VM.Config.Cloudinit).
    citype: oneOf("configdrive2", "nocloud", "opennebula"),
    ciuser: str(),
    ciupgrade: bool,
    cicustom: props({ keys: { meta: volume, network: volume, user: volume, vendor: volume } }),
    searchdomain: str(),
    nameserver: str({ format: FORMATS.addressList }),
    sshkeys: str({ format: sshPublicKeys })
  },
  families,
  refused: {
    digest: refuse(
      "not-settable",
      "digest is not a config key but the SHA-1 of the config file, generated by PVE on every write"
    ),
    pending: refuse("not-settable", "pending changes are read from /pending, not set as a key"),
    lock: refuse("root-only", `PVE sets and clears it around its own tasks; ${ROOT_ONLY}`),
    parent: notSettable,
    snaptime: notSettable,
    vmstate: notSettable,
    meta: notSettable,
    runningmachine: notSettable,
    runningcpu: notSettable,
    "running-nets-host-mtu": notSettable,
    vmgenid: refuse(
      "generated",
      `generated by PVE ("1" makes a fresh UUID on every write, so it never converges); also ${ROOT_ONLY}`
    ),
    smbios1: refuse("generated", "holds a UUID PVE generates at creation; a desired value would have to repeat it"),
    cipassword: refuse("masked", "PVE masks it as ********** on read, so it could never be compared"),
    cdrom: refuse(
      "alias",
      "an alias PVE rewrites to ide2 (adding media=cdrom), so it never reads back; set ide2 instead"
    ),
    smp: refuse(
      "alias",
      "deprecated; PVE moves it to sockets when it reads the config, so it never reads back; set sockets"
    ),
    args: rootOnly,
    hookscript: rootOnly,
    affinity: rootOnly,
    arch: rootOnly,
    hugepages: rootOnly,
    keephugepages: rootOnly,
    ivshmem: rootOnly,
    spice_enhancements: rootOnly,
    "amd-sev": rootOnly,
    "intel-tdx": rootOnly
  },
  refusedFamilies: [
    {
      prefix: "unused",
      count: 256,
      refusal: refuse(
        "internal",
        "PVE records detached volumes here (\"used internally, and should not be modified manually\"); deleting one destroys the volume"
      )
    },
    { prefix: "parallel", count: 3, refusal: rootOnly }
  ]
}
