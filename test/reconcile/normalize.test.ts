import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { GuestType } from "../../src/domain/Guest.js"
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
  ["lxc", "mp0"]
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
  "nesting"
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
    expect(valueToSet("qemu", "onboot", "true", undefined)).toBe(1)
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
