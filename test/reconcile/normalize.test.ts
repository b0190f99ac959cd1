import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { validateConfig } from "../../src/domain/configSchema.js"
import type { GuestType } from "../../src/domain/Guest.js"
import { makeVmid } from "../../src/domain/Vmid.js"
import {
  ABSENT_DEFAULTS,
  defaultNormalizeContext,
  IGNORED_KEYS,
  isEqual,
  type NormalizeContext,
  normalizerFor,
  normalizeValue,
  valueToSet
} from "../../src/reconcile/normalize.js"
import { plan } from "../../src/reconcile/plan.js"

const caseSensitive: NormalizeContext = { tagStyle: { caseSensitive: true, ordering: "alphabetical" } }
const configOrder: NormalizeContext = { tagStyle: { caseSensitive: false, ordering: "config" } }

/** One representative key per family and type. */
const FAMILY_KEYS: ReadonlyArray<readonly [GuestType, string]> = [
  ["qemu", "description"],
  ["lxc", "description"],
  ["qemu", "tags"],
  ["lxc", "tags"],
  ["qemu", "onboot"],
  ["lxc", "unprivileged"],
  ["qemu", "numa"],
  ["qemu", "cores"],
  ["qemu", "cpulimit"],
  ["lxc", "memory"],
  ["lxc", "swap"],
  ["qemu", "memory"],
  ["qemu", "agent"],
  ["qemu", "net0"],
  ["lxc", "net3"],
  ["qemu", "startup"],
  ["lxc", "features"],
  ["qemu", "sshkeys"],
  ["qemu", "name"],
  ["qemu", "cpu"],
  ["qemu", "hotplug"],
  ["qemu", "scsi0"],
  ["lxc", "rootfs"],
  ["lxc", "mp0"],
  ["lxc", "nameserver"],
  ["lxc", "searchdomain"]
]

const piece = fc.constantFrom(
  "virtio",
  "e1000",
  "BC:24:11:aa:bb:cc",
  "bridge",
  "vmbr0",
  "firewall",
  "1",
  "0",
  "true",
  "current",
  "2048",
  "enabled",
  "fstrim_cloned_disks",
  "name",
  "eth0",
  "hwaddr",
  "type",
  "veth",
  "ip",
  "dhcp",
  "A",
  "b",
  "%20",
  "%2",
  "1.50",
  " ",
  "",
  "model",
  "macaddr",
  "link_down",
  "tag",
  "order",
  "nesting",
  "1.1.1.1",
  "fe80::1%eth0",
  "\u0000",
  "YES",
  "Off"
)
const separator = fc.constantFrom(",", "=", ";", " ", "\n", "\r\n", "\r", "\t", "%")
const structured = fc.array(fc.tuple(piece, separator), { maxLength: 12 }).map((ps) =>
  ps.map(([p, s]) => p + s).join("")
)
const inputValue = fc.oneof(
  structured,
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.integer(),
  fc.double(),
  fc.boolean()
)
const contexts = fc.constantFrom(defaultNormalizeContext, caseSensitive, configOrder)

describe("normalizers are idempotent", () => {
  for (const [type, key] of FAMILY_KEYS) {
    it(`${type} ${key} (${normalizerFor(type, key).family}): n(n(x)) = n(x)`, () => {
      fc.assert(
        fc.property(inputValue, contexts, (value, ctx) => {
          const once = normalizeValue(type, key, value, ctx)
          expect(once).toBeDefined()
          expect(normalizeValue(type, key, once, ctx)).toBe(once)
          // A value always equals itself and its own normal form.
          expect(isEqual(type, key, value, once, ctx)).toBe(true)
        }),
        { numRuns: 400 }
      )
    })
  }
  it("absent defaults are fixed points of their normalizer", () => {
    for (const type of ["qemu", "lxc"] as const) {
      for (const [key, value] of ABSENT_DEFAULTS[type]) expect(normalizeValue(type, key, value)).toBe(value)
    }
  })
})

describe("quirk table: no spurious drift", () => {
  it("lxc description read back with one trailing newline", () => {
    expect(isEqual("lxc", "description", "a\n\nb", "a\n\nb\n")).toBe(true)
    expect(isEqual("lxc", "description", "x\n\n", "x\n")).toBe(true)
    expect(isEqual("lxc", "description", "a\nb", "a\n\nb\n")).toBe(false)
  })
  it("qemu description trimmed on read, CRLF folded to LF", () => {
    expect(isEqual("qemu", "description", "a\r\nb\r\n\r\n", "a\r\nb")).toBe(true)
    expect(isEqual("qemu", "description", "a\r\nb", "a\nb")).toBe(true)
    expect(isEqual("qemu", "description", "hello  \n", "hello")).toBe(true)
    expect(isEqual("qemu", "description", "a\n\nb", "a\nb")).toBe(false)
  })
  it("an empty description is the same as none", () => {
    expect(isEqual("qemu", "description", "", undefined)).toBe(true)
    expect(isEqual("lxc", "description", "\n", undefined)).toBe(true)
  })
  it("tags: separators, case, duplicates and order", () => {
    expect(isEqual("qemu", "tags", "B,a a", "a;b")).toBe(true)
    expect(isEqual("lxc", "tags", "prod; web\tdb", "db;prod;web")).toBe(true)
    expect(isEqual("qemu", "tags", "a", "a;b")).toBe(false)
    expect(isEqual("qemu", "tags", "", undefined)).toBe(true)
  })
  it("tags respect the datacenter tag-style", () => {
    expect(isEqual("qemu", "tags", "B,a", "B;a", caseSensitive)).toBe(true)
    expect(isEqual("qemu", "tags", "B,a", "a;b", caseSensitive)).toBe(false)
    expect(isEqual("qemu", "tags", "b,a,b", "b;a", configOrder)).toBe(true)
    expect(isEqual("qemu", "tags", "b,a", "a;b", configOrder)).toBe(false)
  })
  it("booleans: absent ≡ 0 ≡ explicit 0, true/false inputs", () => {
    for (const key of ["onboot", "protection", "template", "numa"]) {
      expect(isEqual("qemu", key, 0, undefined)).toBe(true)
      expect(isEqual("qemu", key, false, undefined)).toBe(true)
      expect(isEqual("qemu", key, "0", 0)).toBe(true)
      expect(isEqual("qemu", key, true, 1)).toBe(true)
      expect(isEqual("qemu", key, 1, undefined)).toBe(false)
    }
    expect(isEqual("lxc", "unprivileged", 0, undefined)).toBe(true)
    expect(isEqual("lxc", "unprivileged", true, 1)).toBe(true)
    expect(isEqual("qemu", "acpi", 1, undefined)).toBe(true)
  })
  it("booleans are written as 1/0", () => {
    expect(valueToSet("qemu", "onboot", "1", undefined)).toBe(1)
    expect(valueToSet("qemu", "onboot", 0, 1)).toBe(0)
  })
  it("numbers vs numeric strings", () => {
    expect(isEqual("qemu", "cores", "4", 4)).toBe(true)
    expect(isEqual("qemu", "sockets", 2, "2")).toBe(true)
    expect(isEqual("qemu", "cpulimit", 1.5, "1.50")).toBe(true)
    expect(isEqual("qemu", "balloon", 1024, "1024")).toBe(true)
    expect(isEqual("lxc", "cpuunits", "100", 100)).toBe(true)
    expect(isEqual("lxc", "memory", 1024, "1024")).toBe(true)
    expect(isEqual("lxc", "swap", 512, undefined)).toBe(true)
    expect(isEqual("qemu", "cores", 1, undefined)).toBe(true)
    expect(isEqual("qemu", "cores", 2, "4")).toBe(false)
    expect(isEqual("lxc", "cores", 1, undefined)).toBe(false)
  })
  it("qemu memory: 2048 ≡ \"2048\" ≡ current=2048", () => {
    expect(isEqual("qemu", "memory", 2048, "2048")).toBe(true)
    expect(isEqual("qemu", "memory", "current=2048", "2048")).toBe(true)
    expect(isEqual("qemu", "memory", 2048, "current=2048")).toBe(true)
    expect(isEqual("qemu", "memory", 512, undefined)).toBe(true)
    expect(isEqual("qemu", "memory", 4096, "2048")).toBe(false)
  })
  it("qemu agent: 1 ≡ enabled=1, 0 ≡ absent", () => {
    expect(isEqual("qemu", "agent", 1, "enabled=1")).toBe(true)
    expect(isEqual("qemu", "agent", "1,fstrim_cloned_disks=1", "enabled=1,fstrim_cloned_disks=1")).toBe(true)
    expect(isEqual("qemu", "agent", "enabled=1,fstrim_cloned_disks=0", "1")).toBe(true)
    expect(isEqual("qemu", "agent", 0, undefined)).toBe(true)
    expect(isEqual("qemu", "agent", 1, undefined)).toBe(false)
  })
  it("qemu net: generated MAC ignored, key order irrelevant, bools 1/0", () => {
    const observed = "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1"
    expect(isEqual("qemu", "net0", "virtio,bridge=vmbr0,firewall=1", observed)).toBe(true)
    expect(isEqual("qemu", "net0", "firewall=true,bridge=vmbr0,model=virtio", observed)).toBe(true)
    expect(isEqual("qemu", "net0", "virtio=bc:24:11:aa:bb:cc,bridge=vmbr0,firewall=1", observed)).toBe(true)
    expect(isEqual("qemu", "net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1", observed)).toBe(false)
    expect(isEqual("qemu", "net0", "virtio,bridge=vmbr1,firewall=1", observed)).toBe(false)
    expect(isEqual("qemu", "net0", "virtio,bridge=vmbr0", "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=0")).toBe(
      true
    )
  })
  it("lxc net: type=veth default, hwaddr ignored unless desired, MAC case", () => {
    const observed = "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:AA:BB:CC,ip=dhcp,type=veth"
    expect(isEqual("lxc", "net0", "ip=dhcp,bridge=vmbr0,name=eth0", observed)).toBe(true)
    expect(isEqual("lxc", "net0", "name=eth0,bridge=vmbr0,hwaddr=bc:24:11:aa:bb:cc,ip=dhcp", observed)).toBe(true)
    expect(isEqual("lxc", "net0", "name=eth0,bridge=vmbr0,ip=10.0.0.2/24", observed)).toBe(false)
  })
  it("rewriting a NIC keeps its observed MAC", () => {
    const written = valueToSet("qemu", "net0", "virtio,bridge=vmbr1", "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0")
    expect(written).toBe("virtio=BC:24:11:AA:BB:CC,bridge=vmbr1")
    const lxcWritten = valueToSet(
      "lxc",
      "net0",
      "name=eth0,bridge=vmbr1",
      "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:AA:BB:CC,type=veth"
    )
    expect(isEqual("lxc", "net0", "name=eth0,bridge=vmbr1,hwaddr=BC:24:11:AA:BB:CC", lxcWritten)).toBe(true)
  })
  it("server-generated keys are never compared", () => {
    for (const key of ["digest", "parent", "meta", "vmgenid", "smbios1", "lock"]) {
      expect(IGNORED_KEYS.has(key)).toBe(true)
      expect(isEqual("qemu", key, "x", "y")).toBe(true)
      expect(normalizeValue("qemu", key, "x")).toBeUndefined()
    }
  })
  it("unknown keys compare as exact text", () => {
    expect(isEqual("qemu", "ostype", "l26", "l26")).toBe(true)
    expect(isEqual("qemu", "ostype", "L26", "l26")).toBe(false)
    expect(isEqual("qemu", "vga", 1, "1")).toBe(true)
    expect(isEqual("qemu", "ostype", "l26", undefined)).toBe(false)
  })
  it("cpu, hotplug and disks compare as maps/sets", () => {
    expect(isEqual("qemu", "cpu", "host", "cputype=host")).toBe(true)
    expect(isEqual("qemu", "hotplug", "usb,network,disk", undefined)).toBe(true)
    expect(isEqual("qemu", "hotplug", 1, "network,disk,usb")).toBe(true)
    expect(isEqual("qemu", "hotplug", "disk", "disk,network")).toBe(false)
    expect(
      isEqual("qemu", "scsi0", "local-lvm:vm-100-disk-0,discard=on", "local-lvm:vm-100-disk-0,discard=on,size=32G")
    ).toBe(true)
    expect(isEqual("qemu", "scsi0", "local-lvm:vm-100-disk-0,size=64G", "local-lvm:vm-100-disk-0,size=32G")).toBe(false)
    expect(
      isEqual("lxc", "rootfs", "size=8G,volume=local:100/vm-100-disk-0.raw", "local:100/vm-100-disk-0.raw,size=8G")
    ).toBe(true)
  })
  it("sshkeys stored URL-encoded", () => {
    expect(isEqual("qemu", "sshkeys", "ssh-ed25519 AAAA me@host", "ssh-ed25519%20AAAA%20me%40host")).toBe(true)
  })
})

describe("normalizer regressions found by the property test", () => {
  it("qemu hotplug: a repeated 1 is the default set, and normalizing twice reads the same", () => {
    for (const input of ["1,1", " 1,", "1", "usb,disk,network", "0", "0,0"]) {
      const once = normalizeValue("qemu", "hotplug", input)
      expect(normalizeValue("qemu", "hotplug", once ?? "")).toBe(once)
    }
    expect(isEqual("qemu", "hotplug", "1,1", "network,disk,usb")).toBe(true)
  })
})

// PVE's own spellings, re-stated here rather than imported: pve-common PVE::JSONSchema
// `check_type` takes only "1"/"0" for a top-level boolean parameter; `parse_boolean` (used by
// `parse_property_string` for a boolean sub-key) takes these words in any case.
const PVE_TRUE = /^(1|on|yes|true)$/i
const PVE_FALSE = /^(0|off|no|false)$/i
const boolWord = fc.oneof(
  fc.constantFrom("1", "0", "on", "off", "yes", "no", "true", "false").chain((w) =>
    fc.array(fc.boolean(), { minLength: w.length, maxLength: w.length }).map((up) =>
      [...w].map((c, i) => (up[i] === true ? c.toUpperCase() : c)).join("")
    )
  ),
  fc.constantFrom(" 1", "1 ", "yes ", "2", "", "y", "enabled"),
  fc.string({ maxLength: 6 }).filter((w) => !w.includes(",") && !w.includes("="))
)

describe("booleans as PVE takes them", () => {
  it("top-level: only 1/0 (and JSON true/false) equal 1/0; other words never read as a boolean", () => {
    fc.assert(
      fc.property(boolWord, fc.constantFrom<GuestType>("qemu", "lxc"), (word, type) => {
        expect(isEqual(type, "onboot", word, 1)).toBe(word === "1")
        expect(isEqual(type, "onboot", word, 0)).toBe(word === "0")
        expect(isEqual(type, "protection", word, undefined)).toBe(word === "0")
      }),
      { numRuns: 400 }
    )
    expect(isEqual("qemu", "onboot", true, 1)).toBe(true)
    expect(isEqual("lxc", "console", false, 0)).toBe(true)
  })

  it("top-level: the config-key table refuses what PVE refuses, and plan names the path", () => {
    for (const word of ["yes", "true", "on", "TRUE", " 1", "no"]) {
      expect(validateConfig("lxc", { onboot: word })).toEqual([
        { path: "onboot", message: `must be a boolean (true/false or 1/0), got ${JSON.stringify(word)}` }
      ])
    }
    const observed = {
      guest: { id: "qemu/100", vmid: makeVmid(100), node: "pve1", type: "qemu" as const, status: "running" as const },
      status: { status: "running" as const },
      config: { digest: "0123456789abcdef0123456789abcdef01234567", values: { onboot: 1 } },
      pending: []
    }
    const p = plan({ guests: { "100": { config: { onboot: "yes" } } } }, [observed])
    expect(p.invalid).toEqual([{
      path: "guests.100.config.onboot",
      message: expect.stringContaining("must be a boolean")
    }])
    expect(p.actions).toEqual([])
  })

  it("inside a property string: the table takes parse_boolean's words in any case, compared as PVE re-prints them (1/0)", () => {
    fc.assert(
      fc.property(boolWord, (word) => {
        const asPve = PVE_TRUE.test(word) ? "1" : PVE_FALSE.test(word) ? "0" : undefined
        const cases: ReadonlyArray<readonly [GuestType, string, (v: string) => string, string]> = [
          // lxc net, re-printed by pve-container `print_lxc_network` (host-managed, firewall, link_down).
          ["lxc", "net0", (v) => `name=eth0,bridge=vmbr0,host-managed=${v}`, "1"],
          // qemu drive, re-printed by qemu-server `print_drive`; lxc mount point, by `print_ct_mountpoint`.
          ["qemu", "scsi0", (v) => `local-lvm:vm-100-disk-0,ssd=${v}`, "0"],
          ["lxc", "mp0", (v) => `local-lvm:vm-100-disk-1,mp=/data,ro=${v}`, "1"],
          // qemu agent's default key and lxc features: stored as written, read the same way on both sides.
          ["qemu", "agent", (v) => v, "1"],
          ["lxc", "features", (v) => `nesting=${v}`, "1"]
        ]
        for (const [type, key, value, bit] of cases) {
          const accepted = validateConfig(type, { [key]: value(word) }).length === 0
          // What PVE refuses is refused at plan time; what it takes compares as its 1/0.
          expect([key, accepted]).toEqual([key, asPve !== undefined])
          if (accepted) expect([key, isEqual(type, key, value(word), value(bit))]).toEqual([key, asPve === bit])
        }
      }),
      { numRuns: 400 }
    )
  })

  it("a sub-key that is not boolean keeps its word (qemu disk discard=on is an enum)", () => {
    expect(isEqual("qemu", "scsi0", "local-lvm:vm-100-disk-0,discard=on", "local-lvm:vm-100-disk-0,discard=1")).toBe(
      false
    )
    expect(isEqual("qemu", "agent", "1,freeze-fs-on-backup=no", "enabled=1,freeze-fs-on-backup=0")).toBe(true)
  })
})

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join("."))
const ipv6 = fc.constantFrom("2001:db8::53", "fe80::1%eth0", "::1")
const domain = fc.stringMatching(/^[a-z][a-z0-9-]{0,6}[a-z0-9](\.[a-z]{2,5}){0,2}$/)
const listSeparator = fc.constantFrom(",", ";", " ", "  ", "\t", ", ", " ;", ",,", "\n")
const dnsList = (item: fc.Arbitrary<string>) =>
  fc.tuple(
    fc.array(fc.tuple(item, listSeparator), { minLength: 1, maxLength: 5 }),
    fc.option(listSeparator, { nil: undefined })
  ).map(([parts, lead]) => ({
    written: (lead ?? "") + parts.map(([i, sep], n) => (n === parts.length - 1 ? i : i + sep)).join(""),
    // What pve-container stores: the items, in order, repeats kept, joined by one space.
    stored: parts.map(([i]) => i).join(" ")
  }))

describe("lxc nameserver and searchdomain compare as PVE stores them", () => {
  it("1.1.1.1,8.8.8.8 is stored as 1.1.1.1 8.8.8.8: no drift", () => {
    expect(isEqual("lxc", "nameserver", "1.1.1.1,8.8.8.8", "1.1.1.1 8.8.8.8")).toBe(true)
    expect(isEqual("lxc", "nameserver", "1.1.1.1; 8.8.8.8", "1.1.1.1 8.8.8.8")).toBe(true)
    expect(isEqual("lxc", "nameserver", "1.1.1.1\u00008.8.8.8", "1.1.1.1 8.8.8.8")).toBe(true)
    expect(isEqual("lxc", "searchdomain", "  a.example.com   b.example.com ", "a.example.com b.example.com")).toBe(true)
    // Order and repeats are PVE's to keep: they are differences.
    expect(isEqual("lxc", "nameserver", "8.8.8.8,1.1.1.1", "1.1.1.1 8.8.8.8")).toBe(false)
    expect(isEqual("lxc", "nameserver", "1.1.1.1,1.1.1.1", "1.1.1.1")).toBe(false)
    expect(isEqual("lxc", "nameserver", "1.1.1.1", undefined)).toBe(false)
  })
  it("any separators: the desired list equals what PVE stores, and PVE's form normalizes to itself", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          dnsList(fc.oneof(ipv4, ipv6)).map((l) => ["nameserver", l] as const),
          dnsList(domain).map((l) => ["searchdomain", l] as const)
        ),
        ([key, { stored, written }]) => {
          expect(validateConfig("lxc", { [key]: written })).toEqual([])
          expect(isEqual("lxc", key, written, stored)).toBe(true)
          expect(normalizeValue("lxc", key, stored)).toBe(stored)
          expect(normalizeValue("lxc", key, written)).toBe(stored)
        }
      ),
      { numRuns: 400 }
    )
  })
  it("qemu's cloud-init nameserver is stored as given: compared exactly", () => {
    expect(isEqual("qemu", "nameserver", "1.1.1.1,8.8.8.8", "1.1.1.1 8.8.8.8")).toBe(false)
  })
})

describe("disk sizes compare as PVE stores them (parse_size, then format_size)", () => {
  const disk = (size: string) => `local-lvm:vm-100-disk-0,size=${size}`
  it("examples", () => {
    expect(isEqual("qemu", "scsi0", disk("1024M"), disk("1G"))).toBe(true)
    expect(isEqual("qemu", "scsi0", disk("1.5G"), disk("1536M"))).toBe(true)
    expect(isEqual("lxc", "rootfs", "local-lvm:vm-100-disk-0,size=8GiB", "local-lvm:vm-100-disk-0,size=8G")).toBe(true)
    expect(isEqual("qemu", "scsi0", disk("1073741824"), disk("1G"))).toBe(true)
    expect(isEqual("qemu", "scsi0", disk("1.5G"), disk("1G"))).toBe(false)
    expect(isEqual("qemu", "scsi0", disk("lots"), disk("1G"))).toBe(false)
  })
  it("any spelling of a byte count equals PVE's", () => {
    const units = ["", "K", "M", "G", "T"]
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.nat(3), fc.nat(3), fc.boolean(), (n, power, shift, iB) => {
        const bytes = n * 1024 ** power
        // PVE's form, worked out here: divide by 1024 while it divides, at most to T.
        let value = bytes
        let unit = 0
        while (unit < 4 && value % 1024 === 0) {
          value /= 1024
          unit++
        }
        const stored = `${value}${units[unit] ?? ""}`
        // The same byte count written in a smaller unit (always whole), or in bytes.
        const down = Math.min(shift, power)
        const written = `${n * 1024 ** (power - down)}${units[down] ?? ""}${iB && down > 0 ? "iB" : ""}`
        expect(isEqual("qemu", "virtio0", disk(written), disk(stored))).toBe(true)
        expect(normalizeValue("lxc", "mp0", `local:vol,mp=/d,size=${written}`)).toBe(
          `mp=/d,size=${stored},volume=local:vol`
        )
      }),
      { numRuns: 300 }
    )
  })
})

describe("disk keys compare as PVE files them (parse_property_string aliases, cleanup_drive_path, create_disks)", () => {
  it("an alias reads as its target: volume= is the drive's file, *_length the burst length", () => {
    expect(isEqual("qemu", "scsi0", "volume=local-lvm:vm-100-disk-0,size=8G", "local-lvm:vm-100-disk-0,size=8G")).toBe(
      true
    )
    expect(
      isEqual("qemu", "efidisk0", "volume=local-lvm:vm-100-disk-1,efitype=4m", "local-lvm:vm-100-disk-1,efitype=4m")
    )
      .toBe(true)
    expect(
      isEqual(
        "qemu",
        "virtio0",
        "local-lvm:vm-100-disk-0,iops_rd=10,iops_rd_max=20,iops_rd_length=5",
        "local-lvm:vm-100-disk-0,iops_rd=10,iops_rd_max=20,iops_rd_max_length=5"
      )
    ).toBe(true)
    expect(isEqual("qemu", "scsi0", "volume=local-lvm:vm-100-disk-0", "local-lvm:vm-100-disk-9")).toBe(false)
  })

  it("an empty qemu drive is a CD-ROM unless a media is named, and has no size", () => {
    expect(isEqual("qemu", "ide2", "none", "none,media=cdrom")).toBe(true)
    expect(isEqual("qemu", "ide2", "none,size=4G", "none,media=cdrom")).toBe(true)
    expect(isEqual("qemu", "sata0", "none,media=disk", "none,media=disk")).toBe(true)
    expect(isEqual("qemu", "sata0", "none,media=disk", "none,media=cdrom")).toBe(false)
    // A volume is no empty drive: its media stays as written.
    expect(isEqual("qemu", "ide2", "local-lvm:vm-100-disk-0", "local-lvm:vm-100-disk-0,media=cdrom")).toBe(false)
  })
})
