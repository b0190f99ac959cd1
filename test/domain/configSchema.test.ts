import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import {
  CONFIG_SCHEMA,
  type DesiredScalar,
  type FormatName,
  isKnownKey,
  type KeySpec,
  keySpec,
  knownKeys,
  type PropertyFormat,
  refusalOf,
  type SubSpec,
  validateConfig,
  type ValueSpec
} from "../../src/domain/configSchema.js"
import { UNMANAGEABLE_KEYS } from "../../src/domain/DesiredState.js"
import type { GuestType } from "../../src/domain/Guest.js"
import { IGNORED_KEYS } from "../../src/reconcile/normalize.js"

const messages = (type: GuestType, config: Record<string, DesiredScalar | null>) =>
  validateConfig(type, config).map((i) => `${i.path}: ${i.message}`)
const ok = (type: GuestType, config: Record<string, DesiredScalar | null>) => expect(messages(type, config)).toEqual([])
const one = (type: GuestType, key: string, value: DesiredScalar | null): string => {
  const issues = messages(type, { [key]: value })
  expect(issues).toHaveLength(1)
  return issues[0] ?? ""
}

describe("validateConfig: examples", () => {
  it("names the bad value and the rule, one issue per bad key", () => {
    expect(messages("qemu", { memory: "lots", memroy: 4096, cores: 0, name: "web" })).toEqual([
      `memory: must be an integer ≥ 16 (MiB), got "lots"`,
      "memroy: not a qemu config key (did you mean memory?)",
      "cores: must be an integer ≥ 1, got 0"
    ])
  })

  it("suggests the nearest key for typos, case slips and keys of the other guest type", () => {
    expect(one("qemu", "nmae", "x")).toBe("nmae: not a qemu config key (did you mean name?)")
    expect(one("lxc", "hostnme", "x")).toBe("hostnme: not an lxc config key (did you mean hostname?)")
    expect(one("lxc", "Memory", 512)).toBe("Memory: not an lxc config key (did you mean memory?)")
    expect(one("qemu", "hostname", "x")).toBe("hostname: not a qemu config key (it is an lxc key)")
    expect(one("qemu", "nett0", "virtio")).toBe("nett0: not a qemu config key (did you mean net0?)")
  })

  it("knows each device family's index range", () => {
    ok("qemu", {
      net31: "virtio",
      scsi30: "local:vm-100-disk-0",
      usb13: "spice",
      ide3: "none,media=cdrom",
      virtio15: "local:1"
    })
    expect(one("qemu", "net32", "virtio")).toBe("net32: not a qemu config key: net goes from net0 to net31")
    expect(one("qemu", "scsi31", "local:1")).toContain("scsi goes from scsi0 to scsi30")
    expect(one("qemu", "usb14", "spice")).toContain("usb goes from usb0 to usb13")
    expect(one("lxc", "mp256", "local:8,mp=/x")).toContain("mp goes from mp0 to mp255")
    expect(isKnownKey("qemu", "net01")).toBe(false)
  })

  it("applies PVE's ranges: memory ≥ 16, cpulimit per type, tty 0..6, shares ≤ 50000", () => {
    expect(one("qemu", "memory", 8)).toBe("memory: must be an integer ≥ 16 (MiB), got 8")
    expect(one("lxc", "memory", 15)).toBe("memory: must be an integer ≥ 16 (MiB), got 15")
    ok("qemu", { cpulimit: 128, memory: 16 })
    expect(one("qemu", "cpulimit", 128.5)).toBe("cpulimit: must be a number from 0 to 128, got 128.5")
    ok("lxc", { cpulimit: 8192, cores: 8192, tty: 6 })
    expect(one("lxc", "cores", 8193)).toBe("cores: must be an integer from 1 to 8192, got 8193")
    expect(one("lxc", "tty", 7)).toBe("tty: must be an integer from 0 to 6, got 7")
    expect(one("qemu", "shares", 50001)).toContain("from 0 to 50000")
  })

  it("takes digit strings as numbers, but only in the form PVE's config parser reads back", () => {
    ok("qemu", { memory: "4096", cores: "4", cpulimit: "0.5", balloon: "0", sockets: "007" })
    ok("lxc", { memory: "4096", swap: "0", cpulimit: "1.25" })
    expect(one("qemu", "cores", "+4")).toBe(`cores: must be an integer ≥ 1, got "+4"`)
    expect(one("qemu", "cores", "4.0")).toContain("must be an integer")
    expect(one("qemu", "cores", " 4")).toContain("must be an integer")
    expect(one("qemu", "cores", 2.5)).toContain("must be an integer")
    expect(one("qemu", "cpulimit", "1e1")).toContain("must be a number")
    expect(one("qemu", "cpulimit", ".5")).toContain("must be a number")
  })

  it("maps JSON booleans to 1/0 and refuses PVE's rejected spellings", () => {
    ok("qemu", { onboot: true, protection: false, numa: 1, acpi: "0" })
    ok("lxc", { onboot: false, console: "1", debug: 0 })
    expect(one("qemu", "onboot", "yes")).toBe(`onboot: must be a boolean (true/false or 1/0), got "yes"`)
    expect(one("qemu", "onboot", "true")).toContain("must be a boolean")
    expect(one("lxc", "protection", 2)).toContain("must be a boolean")
    expect(one("qemu", "cores", true)).toContain("must be an integer")
  })

  it("a top-level boolean is check_type's (1/0), one inside a property string parse_boolean's (any case, unpadded)", () => {
    for (const word of ["on", "off", "yes", "no", "true", "false", "TRUE", " 1", "1 "]) {
      expect(one("lxc", "onboot", word)).toContain("must be a boolean")
    }
    for (const word of ["1", "on", "Yes", "TRUE", "0", "OFF", "no", "False"]) {
      ok("lxc", { net0: `name=eth0,bridge=vmbr0,firewall=${word}`, features: `nesting=${word}` })
      ok("qemu", { agent: word, scsi0: `local-lvm:vm-100-disk-0,ssd=${word}` })
    }
    for (const word of [" 1", "1 ", "2", "y", "enabled"]) {
      expect(one("lxc", "net0", `name=eth0,firewall=${word}`)).toContain("firewall: must be a boolean")
    }
  })

  it("checks enums, with a suggestion when one is close", () => {
    ok("qemu", { bios: "ovmf", ostype: "l26", scsihw: "virtio-scsi-single", keyboard: "de-ch" })
    expect(one("qemu", "bios", "ovfm")).toBe("bios: must be one of seabios, ovmf, got \"ovfm\" (did you mean ovmf?)")
    expect(one("lxc", "ostype", "debain")).toContain("(did you mean debian?)")
    expect(one("lxc", "cmode", "ssh")).toContain("must be one of shell, console, tty")
  })

  it("limits descriptions to 8192 characters (code points), and lets them span lines", () => {
    ok("qemu", { description: "x".repeat(8192) })
    ok("lxc", { description: "line one\nline two\r\n\n" })
    ok("qemu", { description: "😀".repeat(8192) })
    expect(one("lxc", "description", "x".repeat(8193))).toBe("description: must be at most 8192 characters, got 8193")
  })

  it("keeps every other value on one line", () => {
    expect(one("qemu", "name", "web\nx")).toContain("must be a single line")
    expect(one("qemu", "ciuser", "a\rb")).toContain("must be a single line")
    expect(one("qemu", "net0", "virtio,\nbridge=vmbr0")).toContain("must be a single line")
  })

  it("checks tags as PVE splits them: ; , and whitespace (a newline too) separate tags", () => {
    ok("qemu", { tags: "prod;web" })
    ok("lxc", { tags: "a b,c;d\ne" })
    ok("qemu", { tags: "" })
    expect(one("qemu", "tags", "prod;we!b")).toContain(`invalid tag "we!b"`)
    expect(one("lxc", "tags", "prod\n-x")).toContain(`invalid tag "-x"`)
    // With a NUL anywhere PVE splits on NUL only, so the comma stays inside a tag.
    expect(one("qemu", "tags", "a,b\u0000c")).toContain(`invalid tag "a,b"`)
  })

  it("checks DNS names, startup order and hotplug lists", () => {
    ok("qemu", { name: "web-1.example.com", startup: "order=1,up=30,down=60", hotplug: "network,disk,usb" })
    ok("lxc", { hostname: "db", startup: "3" })
    ok("qemu", { hotplug: "0" })
    ok("qemu", { hotplug: "1" })
    expect(one("qemu", "name", "-web")).toContain("is not a DNS name")
    expect(one("lxc", "hostname", `${"a".repeat(250)}.abcde`)).toContain("at most 255 characters")
    expect(one("qemu", "startup", "0")).toContain("is not a startup order")
    expect(one("lxc", "startup", "order=x")).toContain("is not a startup order")
    expect(one("qemu", "hotplug", "disk,netwrk")).toContain(`invalid hotplug feature "netwrk"`)
  })

  it("refuses keys PVE maintains itself, with and without a value", () => {
    for (
      const key of [
        "lock",
        "digest",
        "parent",
        "snaptime",
        "vmstate",
        "meta",
        "runningmachine",
        "runningcpu",
        "vmgenid",
        "unused0"
      ]
    ) {
      expect(one("qemu", key, "x")).toMatch(new RegExp(`^${key}: cannot be managed: `))
      expect(one("qemu", key, null)).toMatch(new RegExp(`^${key}: cannot be managed: `))
    }
    for (const key of ["lock", "digest", "parent", "snaptime", "unused255", "unprivileged"]) {
      expect(one("lxc", key, null)).toMatch(new RegExp(`^${key}: cannot be managed: `))
    }
    expect(refusalOf("lxc", "unprivileged")?.kind).toBe("read-only")
    expect(refusalOf("qemu", "cdrom")?.reason).toContain("ide2")
  })

  it("refuses keys and values only root@pam may set (the agent uses an API token)", () => {
    for (const key of ["args", "hookscript", "affinity", "arch", "hugepages", "parallel0"]) {
      expect(refusalOf("qemu", key)?.kind).toBe("root-only")
    }
    expect(refusalOf("lxc", "dev0")?.kind).toBe("root-only")
    ok("qemu", { serial0: "socket", usb0: "spice", usb1: "mapping=yubikey", hostpci0: "mapping=gpu,pcie=1" })
    expect(one("qemu", "serial1", "/dev/ttyS0")).toContain("a host serial device: only root@pam")
    expect(one("qemu", "usb2", "host=1234:5678")).toContain("a host USB device: only root@pam")
    expect(one("qemu", "hostpci1", "0000:01:00.0")).toContain("only root@pam")
    expect(one("lxc", "mp0", "/srv/data,mp=/data")).toContain("a bind or device mount: only root@pam")
    ok("lxc", { mp0: "local-lvm:8,mp=/data,backup=1", rootfs: "local-lvm:vm-101-disk-0,size=8G" })
  })

  it("allows deleting any key a document may name, except the ones PVE keeps", () => {
    ok("qemu", { memory: null, name: null, net0: null, tags: null, scsi0: null })
    ok("lxc", { hostname: null, swap: null, mp3: null, net0: null })
    expect(messages("lxc", { memory: null, rootfs: null, ostype: null })).toEqual([
      "memory: cannot be deleted: PVE refuses to delete the required option memory",
      "rootfs: cannot be deleted: PVE refuses to delete the required option rootfs",
      "ostype: cannot be deleted: PVE refuses to delete the required option ostype"
    ])
    expect(one("qemu", "memroy", null)).toContain("did you mean memory?")
  })

  it("parses NICs as PVE does: model or MODEL=MAC first, known sub-keys, ranges, unicast MACs", () => {
    ok("qemu", {
      net0: "virtio,bridge=vmbr0",
      net1: "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,tag=10,firewall=yes",
      net2: "model=e1000,macaddr=bc:24:11:00:00:01,mtu=1500,queues=4,rate=12.5,trunks=10-20;30"
    })
    expect(one("qemu", "net0", "bridge=vmbr0")).toBe("net0: missing model")
    expect(one("qemu", "net0", "virtio,brdige=vmbr0")).toBe("net0: unknown key brdige (did you mean bridge?)")
    expect(one("qemu", "net0", "virtio,tag=4095")).toBe(`net0: tag: must be an integer from 1 to 4094, got "4095"`)
    expect(one("qemu", "net0", "virtio=01:24:11:AA:BB:CC")).toContain("not a unicast MAC address")
    expect(one("qemu", "net0", "virtio,e1000")).toContain("duplicate model")
    expect(one("qemu", "net0", "virtio,firewall=maybe")).toContain("firewall: must be a boolean")
    ok("lxc", {
      net0: "name=eth0,bridge=vmbr0,ip=dhcp,ip6=auto,firewall=1",
      net1: "name=eth1,bridge=vmbr1,ip=192.0.2.10/24,gw=192.0.2.1,hwaddr=BC:24:11:00:00:02,mtu=9000"
    })
    expect(one("lxc", "net0", "bridge=vmbr0")).toBe("net0: missing name")
    expect(one("lxc", "net0", "name=eth0,mtu=63")).toContain("mtu: must be an integer from 64 to 65535")
    expect(one("lxc", "net0", "name=eth0,ip=192.0.2.10/33")).toContain("IPv4/CIDR (prefix 8..32)")
  })

  it("checks qemu memory, agent and boot order as property strings", () => {
    ok("qemu", { memory: 2048, agent: "1", boot: "order=scsi0;ide2;net0" })
    ok("qemu", { memory: "current=2048", agent: "enabled=1,fstrim_cloned_disks=1,freeze-fs-on-backup=0" })
    expect(one("qemu", "memory", "current=8")).toBe(`memory: current: must be an integer ≥ 16 (MiB), got "8"`)
    expect(one("qemu", "agent", "fstrim_cloned_disks=1")).toBe("agent: missing enabled")
    expect(one("qemu", "boot", "order=scsi0;efidisk0")).toContain(`invalid boot device "efidisk0"`)
    expect(one("qemu", "memory", "")).toContain("must not be empty")
  })

  it("applies PVE's balloon ≤ memory check when the document sets both", () => {
    ok("qemu", { memory: 2048, balloon: 1024 })
    expect(messages("qemu", { memory: "current=2048", balloon: 4096 })).toEqual([
      "balloon: must not exceed memory (2048 MiB), got 4096"
    ])
  })

  it("refuses cpuunits above 10000, which cgroup v2 hosts would store as 10000", () => {
    ok("qemu", { cpuunits: 10000 })
    expect(one("lxc", "cpuunits", 20000)).toContain("must be at most 10000")
    expect(one("qemu", "cpuunits", 0)).toContain("from 1 to 262144")
  })

  it("agrees with the document decoder and the normalizers on keys PVE generates", () => {
    for (const type of ["qemu", "lxc"] as const) {
      for (const key of [...UNMANAGEABLE_KEYS.keys(), ...IGNORED_KEYS]) {
        expect([type, key, isKnownKey(type, key)]).toEqual([type, key, false])
      }
    }
  })
})

// ---- Generators: values every key's spec accepts, derived from the table itself. ----

const label = fc.stringMatching(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?$/)
const dnsName = fc.array(label, { minLength: 1, maxLength: 3 }).map((l) => l.join("."))
const sep = fc.constantFrom(" ", ",", ";", "\n", ", ")
const listOf = (item: fc.Arbitrary<string>) =>
  fc.tuple(fc.array(item, { minLength: 1, maxLength: 4 }), sep).map(([items, s]) => items.join(s))
const storageId = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,8}[a-z0-9]$/)
const volumeId = fc.tuple(storageId, fc.stringMatching(/^[a-zA-Z0-9_-]{1,12}(\/[a-zA-Z0-9_-]{1,12})?(\.(raw|qcow2))?$/))
  .map(([s, v]) => `${s}:${v}`)
const octet = fc.integer({ min: 0, max: 255 })
const mac = fc.tuple(
  fc.integer({ min: 0, max: 127 }).map((b) => b * 2),
  fc.array(octet, { minLength: 5, maxLength: 5 })
)
  .map(([first, rest]) => [first, ...rest].map((b) => b.toString(16).padStart(2, "0")).join(":"))
const prefixed = (ip: fc.Arbitrary<string>, max: number) =>
  fc.tuple(ip, fc.integer({ min: 8, max })).map(([a, p]) => `${a}/${p}`)
const drives = ["scsi0", "scsi30", "virtio15", "ide2", "sata5"]
const absolutePath = fc.stringMatching(/^\/[a-z0-9]{1,8}(\/[a-z0-9._-]{1,8}){0,2}$/)

/** An ed25519 public key line as ssh-keygen prints it: type, base64 wire blob, comment. */
const wireString = (bytes: Uint8Array): Buffer => {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(bytes.length)
  return Buffer.concat([length, bytes])
}
const ed25519Line = fc.tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.stringMatching(/^[a-z0-9@.-]{0,12}$/))
  .map(([key, comment]) =>
    `ssh-ed25519 ${Buffer.concat([wireString(Buffer.from("ssh-ed25519")), wireString(key)]).toString("base64")}${
      comment === "" ? "" : ` ${comment}`
    }`
  )

const FORMAT_ARBS: Record<FormatName, fc.Arbitrary<string>> = {
  "dns-name": dnsName,
  "dns-name-list": listOf(dnsName),
  "tag-list": listOf(fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9_+.-]{0,10}$/)),
  "startup-order": fc.record({ order: fc.option(fc.nat(99)), up: fc.option(fc.nat(600)), down: fc.option(fc.nat(600)) })
    .map(({ order, up, down }) =>
      [order === null ? "" : `order=${order}`, up === null ? "" : `up=${up}`, down === null ? "" : `down=${down}`]
        .filter((p) => p !== "").join(",") || "order=1"
    ),
  "hotplug-features": fc.oneof(
    fc.constantFrom("0", "1"),
    fc.subarray(["network", "disk", "cpu", "memory", "usb", "cloudinit"], { minLength: 1 }).map((f) => f.join(","))
  ),
  "storage-id": storageId,
  "volume-id": volumeId,
  "bridge-id": fc.stringMatching(/^[-_.A-Za-z0-9]{1,10}$/),
  configid: fc.stringMatching(/^[a-z][a-z0-9_-]{1,10}$/),
  "mac-addr": mac,
  cpuset: fc.array(fc.tuple(fc.nat(64), fc.nat(8)), { minLength: 1, maxLength: 4 }).map((r) =>
    r.map(([a, n]) => (n === 0 ? `${a}` : `${a}-${a + n}`)).join(",")
  ),
  ipv4: fc.ipV4(),
  ipv6: fc.ipV6(),
  "ipv4-config": fc.oneof(fc.constantFrom("dhcp", "manual"), prefixed(fc.ipV4(), 32)),
  "ipv6-config": fc.oneof(fc.constantFrom("auto", "dhcp", "manual"), prefixed(fc.ipV6(), 128)),
  "address-list": listOf(fc.oneof(fc.ipV4(), fc.ipV6(), dnsName)),
  "ip-ll-iface-list": listOf(fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant("fe80::1%eth0"))),
  urlencoded: fc.stringMatching(/^[-%a-zA-Z0-9_.!~*'()]{0,40}$/),
  "ct-timezone": fc.constantFrom("host", "UTC", "Europe/Vienna", "America/Argentina/Buenos_Aires"),
  "lxc-mp-string": fc.stringMatching(/^\/[a-z0-9]{1,8}(\/[a-z0-9]{1,8}){0,2}$/),
  "lxc-dev-string": fc.constantFrom("/dev/ttyUSB0", "/dev/dri/renderD128"),
  "disk-size": fc.stringMatching(/^\d{1,4}(\.\d)?([KMGT](iB)?)?$/),
  "qm-bootdev-list": fc.subarray([...drives, "net0", "net31", "usb13", "hostpci15"], { minLength: 1 }).map((d) =>
    d.join(";")
  ),
  "qm-bootdisk": fc.constantFrom(...drives, "ide0"),
  "volume-id-or-qm-path": fc.oneof(volumeId, fc.constantFrom("none", "cdrom"), absolutePath),
  "volume-id-or-absolute-path": fc.oneof(volumeId, absolutePath),
  "phys-bits": fc.oneof(fc.constant("host"), fc.integer({ min: 8, max: 64 }).map(String)),
  // PVE splits on newlines only; blank lines are skipped.
  "ssh-public-keys": fc.array(
    fc.oneof({ weight: 4, arbitrary: ed25519Line }, { weight: 1, arbitrary: fc.constant("") }),
    { minLength: 1, maxLength: 3 }
  )
    .map((lines) => encodeURIComponent(lines.join("\n")))
}

/** Keys PVE checks across sub-keys (drives, cpu), or whose generic values could be root@pam's. */
const OVERRIDES: Readonly<Record<string, fc.Arbitrary<string>>> = {
  cpu: fc.constantFrom("host", "x86-64-v2-AES", "cputype=kvm64,flags=+aes", "custom-mine"),
  machine: fc.constantFrom(
    "q35",
    "pc-i440fx-9.2+pve1",
    "virt",
    "type=q35,viommu=intel,aw-bits=48",
    "pc-q35-9.2,viommu=virtio,aw-bits=40",
    "q35,enable-s3=1"
  ),
  vga: fc.constantFrom(
    "std",
    "qxl,memory=32",
    "type=virtio-gl,clipboard=vnc",
    "cirrus,clipboard=vnc",
    "none",
    "serial0",
    "vmware"
  ),
  efidisk0: fc.constantFrom("local-lvm:vm-100-disk-1,efitype=4m,pre-enrolled-keys=1", "local-lvm:1,efitype=4m"),
  tpmstate0: fc.constantFrom("local-lvm:vm-100-disk-2,version=v2.0"),
  disk: fc.tuple(
    volumeId,
    fc.constantFrom("", ",size=32G", ",discard=on,ssd=1", ",media=cdrom", ",mbps=10,mbps_max=20")
  ).map(([v, o]) => `${v}${o}`),
  // No ssd on virtio, and never a CD-ROM (qemu-server PVE::QemuServer::Drive parse_drive).
  virtioDisk: fc.tuple(volumeId, fc.constantFrom("", ",size=32G", ",discard=on,iothread=1", ",ro=1")).map(([v, o]) =>
    `${v}${o}`
  ),
  virtiofs: fc.constantFrom("share1", "dirid=share1,cache=always"),
  serial: fc.constant("socket"),
  hostpci: fc.constantFrom("mapping=gpu", "mapping=gpu,pcie=1,x-vga=1"),
  usb: fc.constantFrom("spice", "mapping=yubikey,usb3=1"),
  rootfs: fc.tuple(volumeId, fc.constantFrom("", ",size=8G", ",acl=1,mountoptions=noatime;nodev")).map(([v, o]) =>
    `${v}${o}`
  ),
  // fast-check's stringMatching reads the pattern's \0 (NUL separator) as a backreference.
  env: fc.array(fc.stringMatching(/^\w{1,8}=[a-zA-Z0-9 /:._-]{0,12}$/), { minLength: 1, maxLength: 3 }).map((e) =>
    e.join("\0")
  ),
  mp: fc.tuple(volumeId, FORMAT_ARBS["lxc-mp-string"], fc.constantFrom("", ",backup=1", ",ro=1,size=10G")).map((
    [v, p, o]
  ) => `${v},mp=${p}${o}`)
}

const overrideFor = (type: GuestType, key: string): fc.Arbitrary<string> | undefined => {
  if (type === "lxc" && /^net\d+$/.test(key)) return lxcNet()
  if (type === "qemu" && /^virtio\d+$/.test(key)) return OVERRIDES["virtioDisk"]
  if (type === "qemu" && /^(ide|sata|scsi)\d+$/.test(key)) return OVERRIDES["disk"]
  return OVERRIDES[key] ?? OVERRIDES[key.replace(/\d+$/, "")]
}

const decimal = (min: number, max: number) =>
  fc.integer({ min: Math.ceil(min * 100), max: Math.floor(max * 100) }).map((k) => k / 100)

const subArb = (s: SubSpec): fc.Arbitrary<string> => {
  switch (s.type) {
    case "boolean":
      return fc.constantFrom("0", "1", "yes", "off", "TRUE")
    case "integer":
      return fc.integer({ min: s.minimum ?? -1000, max: s.maximum ?? 100_000 }).map(String)
    case "number":
      return decimal(s.minimum ?? -1000, s.maximum ?? 100_000).map(String)
    case "string":
      if (s.enum !== undefined) return fc.constantFrom(...s.enum)
      if (s.format !== undefined) return FORMAT_ARBS[s.format.name]
      if (s.pattern !== undefined) {
        return fc.stringMatching(s.pattern).filter((v) => !v.includes(",") && v.length <= (s.maxLength ?? Infinity))
      }
      return fc.stringMatching(/^[a-z0-9]{1,10}$/)
  }
}

const propertyArb = (format: PropertyFormat): fc.Arbitrary<string> => {
  const entries = Object.entries(format.keys)
  const part = (k: string, s: SubSpec): fc.Arbitrary<readonly [string, string] | null> => {
    const pair = subArb(s).map((v): readonly [string, string] => [k, v])
    return s.required === true ? pair : fc.option(pair)
  }
  return fc.tuple(...entries.map(([k, s]) => part(k, s)))
    .chain((parts) => {
      const present = parts.filter((p): p is readonly [string, string] => p !== null)
      const keys = new Set(present.map(([k]) => k))
      const kept = present.filter(([k]) => {
        const r = format.keys[k]?.requires
        return r === undefined || keys.has(r)
      })
      // PVE parses sub-keys in any order and a bare value as the default key.
      return fc.shuffledSubarray(kept, { minLength: kept.length, maxLength: kept.length }).map((order) =>
        order.map(([k, v]) => (format.keys[k]?.defaultKey === true && !/[,=]/.test(v) ? v : `${k}=${v}`)).join(",")
      )
    })
    .filter((v) => v.trim() !== "")
}

const scalarArb = (spec: ValueSpec): fc.Arbitrary<DesiredScalar> => {
  switch (spec.kind) {
    case "boolean":
      return fc.constantFrom(true, false, 0, 1, "0", "1")
    case "integer": {
      const max = Math.min(spec.maximum ?? 1_000_000, spec.clamp?.above ?? Number.POSITIVE_INFINITY)
      return fc.integer({ min: spec.minimum ?? 0, max }).chain((n) => fc.constantFrom<DesiredScalar>(n, String(n)))
    }
    case "number":
      return decimal(spec.minimum ?? 0, spec.maximum ?? 10_000).chain((n) =>
        fc.constantFrom<DesiredScalar>(n, String(n))
      )
    case "enum":
      return fc.constantFrom(...spec.values)
    case "string": {
      const text = spec.format !== undefined
        ? FORMAT_ARBS[spec.format.name]
        : spec.pattern !== undefined
        ? fc.stringMatching(spec.pattern)
        : fc.string({ maxLength: spec.maxLength === undefined ? 60 : 300 })
      return text.filter((s) => spec.multiline === true || !/[\r\n]/.test(s))
    }
    case "property-string":
      return spec.properties === undefined ? fc.constant("x") : propertyArb(spec.properties)
  }
}

/** The table's own lxc net format, without SLAAC on a host-managed NIC (PVE refuses that pair). */
const lxcNet = (): fc.Arbitrary<string> => {
  const spec = keySpec("lxc", "net0")?.value
  const format = spec?.kind === "property-string" ? spec.properties : undefined
  return format === undefined
    ? fc.constant("name=eth0")
    : propertyArb(format).filter((v) => !(/host-managed=(1|yes|TRUE)/.test(v) && v.includes("ip6=auto")))
}

const valueArb = (type: GuestType, key: string, spec: KeySpec): fc.Arbitrary<DesiredScalar> =>
  overrideFor(type, key) ?? scalarArb(spec.value)

/** Every key of both types (families sampled at both ends), with its spec. */
const allKeys = (["qemu", "lxc"] as const).flatMap((type) => {
  const schema = CONFIG_SCHEMA[type]
  const keys = [
    ...Object.keys(schema.keys),
    ...schema.families.flatMap((f) => [`${f.prefix}0`, `${f.prefix}${f.count - 1}`])
  ]
  return keys.map((key) => ({ type, key, spec: keySpec(type, key) })).flatMap((
    e
  ) => (e.spec === undefined ? [] : [{ ...e, spec: e.spec }]))
})

const keyAndValue = fc.constantFrom(...allKeys).chain(({ type, key, spec }) =>
  valueArb(type, key, spec).map((value) => ({ type, key, value }))
)

/** A value outside a key's declared range (or enum, or length), when the spec has one. */
const outOfRange = (spec: ValueSpec): ReadonlyArray<DesiredScalar> => {
  switch (spec.kind) {
    case "integer":
      return [
        ...(spec.minimum === undefined ? [] : [spec.minimum - 1]),
        ...(spec.maximum === undefined ? [] : [spec.maximum + 1])
      ]
    case "number":
      return [
        ...(spec.minimum !== undefined && spec.minimum > 0 ? [spec.minimum - 0.5] : []),
        ...(spec.maximum === undefined ? [] : [spec.maximum + 0.5])
      ]
    case "enum":
      return [`${spec.values[0] ?? ""}x`, "", 3]
    case "boolean":
      return [2, "on", -1]
    case "string":
      return spec.maxLength === undefined ? [] : ["a".repeat(spec.maxLength + 1)]
    case "property-string":
      return [""]
  }
}

/** Property strings with one bounded numeric sub-key pushed just past its bound. */
const subKeyMutations = allKeys.flatMap(({ type, key, spec }) => {
  if (spec.value.kind !== "property-string" || spec.value.properties === undefined) return []
  const format = spec.value.properties
  const required = Object.entries(format.keys).filter(([, s]) => s.required === true)
  return Object.entries(format.keys).flatMap(([sub, s]) => {
    if (s.type !== "integer" && s.type !== "number") return []
    const bad = [
      ...(s.minimum === undefined ? [] : [s.minimum - 1]),
      ...(s.maximum === undefined ? [] : [s.maximum + 1])
    ]
    return bad.map((b) => ({ type, key, sub, required, value: b }))
  })
})

describe("validateConfig: properties", () => {
  it.prop("every value the table's generators produce passes", [keyAndValue], ([{ type, key, value }]) => {
    expect(validateConfig(type, { [key]: value })).toEqual([])
  }, { fastCheck: { numRuns: 3000 } })

  it.prop("a whole document of generated values passes at once", [
    fc.uniqueArray(keyAndValue, { selector: (e) => `${e.type}/${e.key}`, maxLength: 20 })
  ], ([entries]) => {
    for (const type of ["qemu", "lxc"] as const) {
      const config = Object.fromEntries(
        entries.filter((e) => e.type === type && e.key !== "balloon").map((e) => [e.key, e.value])
      )
      expect(validateConfig(type, config)).toEqual([])
    }
  })

  it("every value just outside a key's range, enum or length fails, naming that key", () => {
    let checked = 0
    for (const { type, key, spec } of allKeys) {
      for (const bad of outOfRange(spec.value)) {
        const issues = validateConfig(type, { [key]: bad })
        expect([type, key, bad, issues.map((i) => i.path)]).toEqual([type, key, bad, [key]])
        checked++
      }
    }
    expect(checked).toBeGreaterThan(100)
  })

  it.prop("a bounded sub-key pushed past its bound fails", [
    fc.constantFrom(...subKeyMutations).chain((m) =>
      fc.tuple(...m.required.map(([, s]) => subArb(s))).map((values) => ({ ...m, values }))
    )
  ], ([m]) => {
    const parts = [
      ...m.required.map(([k], i) => `${k}=${m.values[i] ?? ""}`).filter((p) => !p.startsWith(`${m.sub}=`)),
      `${m.sub}=${m.value}`
    ]
    const issues = validateConfig(m.type, { [m.key]: parts.join(",") })
    expect(issues).toHaveLength(1)
    expect(issues[0]?.message).toContain(`${m.sub}: must be`)
  })

  it("every key a document may name can be deleted, except PVE's required options", () => {
    for (const type of ["qemu", "lxc"] as const) {
      for (const key of knownKeys(type)) {
        const required = keySpec(type, key)?.required === true
        expect([key, validateConfig(type, { [key]: null }).length]).toEqual([key, required ? 1 : 0])
      }
    }
  })

  it.prop("random keys are either known, refused with a reason, or reported as unknown", [
    fc.stringMatching(/^[a-z][a-z0-9_-]{0,12}$/),
    fc.constantFrom("qemu" as const, "lxc" as const)
  ], ([key, type]) => {
    const issues = validateConfig(type, { [key]: null })
    if (isKnownKey(type, key)) expect(issues.every((i) => i.message.startsWith("cannot be deleted"))).toBe(true)
    else if (refusalOf(type, key) !== undefined) expect(issues[0]?.message).toMatch(/^cannot be managed: /)
    else expect(issues[0]?.message).toMatch(/^not an? (qemu|lxc) config key/)
  })
})
