/**
 * Write → read through the simulator's model of PVE (description, tags, lxc DNS lists, memory,
 * netN, qemu drives and lxc mount points; sources in src/sim/GuestState.ts and
 * src/sim/PropertyString.ts): for any value
 * PVE accepts, what it reads back must compare equal to what was written. Uses the simulator's
 * pure transforms, so a disagreement between the normalizers and the simulator shows up here.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { GuestType } from "../../src/domain/Guest.js"
import type { ConfigValue } from "../../src/domain/GuestConfig.js"
import { isEqual, type NormalizeContext } from "../../src/reconcile/normalize.js"
import {
  normalizeTags as pveTags,
  readDescription,
  storeDescription,
  storeLxcDnsList
} from "../../src/sim/GuestState.js"
import { parseProperties as pveParse } from "../../src/sim/PropertyFormat.js"
import {
  appliedLxcMountPoint,
  canonicalLxcNet,
  canonicalQemuDrive,
  canonicalQemuMemory,
  canonicalQemuNet
} from "../../src/sim/PropertyString.js"
import { driveFormat } from "../../src/sim/QemuConfigSchema.js"

const mac = () => "BC:24:11:12:34:56"
const ok = (
  c: { readonly ok: string } | { readonly error: string }
): string => ("ok" in c ? c.ok : `REJECTED ${c.error}`)

/** What GET config answers after PUT `key=value` (undefined = key absent). */
const pveRoundTrip = (type: GuestType, key: string, value: string, ctx: NormalizeContext): ConfigValue | undefined => {
  if (key === "description") {
    const stored = storeDescription(value)
    return stored === undefined ? undefined : readDescription(type, stored)
  }
  if (key === "tags") return pveTags(value, ctx.tagStyle)
  if (type === "lxc" && (key === "nameserver" || key === "searchdomain")) return storeLxcDnsList(value)
  if (key === "memory" && type === "qemu") return ok(canonicalQemuMemory(value))
  if (key.startsWith("net")) return ok(type === "qemu" ? canonicalQemuNet(value, mac) : canonicalLxcNet(value, mac))
  if (type === "qemu" && driveFormat(key) !== undefined) {
    // The simulator's schema check first: a value it refuses is no value PVE accepts.
    const format = driveFormat(key)
    const checked = format === undefined ? { error: "no format" } : pveParse(format, value)
    return "error" in checked ? `REJECTED ${checked.error}` : ok(canonicalQemuDrive(key, value))
  }
  if (type === "lxc") return appliedLxcMountPoint(key, value)
  return value
}

const ctxArb = fc.record({
  tagStyle: fc.record({
    caseSensitive: fc.boolean(),
    ordering: fc.constantFrom("alphabetical" as const, "config" as const)
  })
})
const line = fc.string({ unit: fc.constantFrom("a", "B", " ", "\t", "\r", "%", ":", "é", "#", "\u00a0") })
const description = fc.array(fc.oneof(line, fc.constant("")), { maxLength: 5 }).map((ls) => ls.join("\n"))
const tag = fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9_\-+.]{0,6}$/)
const tags = fc.array(fc.tuple(tag, fc.constantFrom(";", ",", " ", " ;", ",,")), { maxLength: 6 }).map((ts) =>
  ts.map(([t, s]) => t + s).join("")
)
// PVE takes unicast MACs only (pve-common PVE::JSONSchema `pve_verify_mac_addr`): the first octet's low (I/G) bit clear.
const macArb = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 }).chain((bytes) =>
  fc.constantFrom(true, false).map((upper) => {
    const m = bytes.map((b, i) => (i === 0 ? b & 0xfe : b).toString(16).padStart(2, "0")).join(":")
    return upper ? m.toUpperCase() : m
  })
)
const boolWord = fc.constantFrom("1", "0", "true", "off")
const qemuNet = fc.tuple(
  fc.constantFrom("virtio", "e1000", "vmxnet3"),
  fc.option(macArb, { nil: undefined }),
  fc.subarray(["bridge=vmbr0", "tag=20", "mtu=1500", "queues=4", "rate=10.5"]),
  fc.option(boolWord, { nil: undefined }),
  fc.option(boolWord, { nil: undefined }),
  fc.boolean()
).map(([model, m, rest, fw, ld, explicit]) => {
  const head = explicit
    ? `model=${model}${m === undefined ? "" : `,macaddr=${m}`}`
    : m === undefined
    ? model
    : `${model}=${m}`
  const parts = [
    head,
    ...rest,
    ...(fw === undefined ? [] : [`firewall=${fw}`]),
    ...(ld === undefined ? [] : [`link_down=${ld}`])
  ]
  return parts.reverse().join(",")
})
const lxcNet = fc.tuple(
  fc.option(macArb, { nil: undefined }),
  fc.subarray(["bridge=vmbr0", "ip=dhcp", "ip6=auto", "gw=10.0.0.1", "tag=5", "type=veth"]),
  fc.option(boolWord, { nil: undefined })
).map(([m, rest, fw]) =>
  ["name=eth0", ...rest, ...(m === undefined ? [] : [`hwaddr=${m}`]), ...(fw === undefined ? [] : [`firewall=${fw}`])]
    .reverse().join(",")
)
const listSeparator = fc.constantFrom(",", ";", " ", "  ", "\t", ", ", ";;", "\n")
const listOf = (item: fc.Arbitrary<string>) =>
  fc.tuple(fc.array(fc.tuple(item, listSeparator), { maxLength: 5 }), fc.option(listSeparator, { nil: undefined })).map(
    (
      [parts, lead]
    ) => (lead ?? "") + parts.map(([i, sep]) => i + sep).join("")
  )
const nameservers = listOf(
  fc.oneof(
    fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join(".")),
    fc.constantFrom("2001:db8::53", "fe80::1%eth0")
  )
)
const searchdomains = listOf(fc.stringMatching(/^[a-z][a-z0-9-]{0,5}[a-z0-9](\.[a-z]{2,4}){0,2}$/))
// Every spelling of a size `parse_size` takes: a fraction, K/M/G/T with or without `iB`, or none.
const size = fc.tuple(
  fc.oneof(fc.integer({ min: 0, max: 1 << 20 }).map(String), fc.constantFrom("1.5", "0.25", "2.0", "0.001", "10.75")),
  fc.constantFrom("", "K", "M", "G", "T", "KiB", "MiB", "GiB", "TiB")
).map(([n, unit]) => `size=${n}${unit}`)
const boolWords = fc.constantFrom("1", "0", "yes", "no", "on", "off", "true", "false", "YES", "Off", "True")
const flags = (names: ReadonlyArray<string>) =>
  fc.subarray([...names]).chain((ks) =>
    fc.tuple(...ks.map((k) => boolWords.map((w) => `${k}=${w}`))).map((parts): Array<string> => parts)
  )
const volumeSpelling = (volume: string, keys: ReadonlyArray<string>) =>
  fc.constantFrom(volume, ...keys.map((k) => `${k}=${volume}`))
/** The parts in any order: PVE's parser does not care, its printer sorts them. */
const anyOrder = (parts: fc.Arbitrary<ReadonlyArray<string>>) =>
  parts.chain((ps) => fc.shuffledSubarray([...ps], { minLength: ps.length, maxLength: ps.length })).map((ps) =>
    ps.join(",")
  )
// Burst lengths through their legacy alias or their own key; each needs its pool and base. No
// `bps*`: PVE stores `mbps*=0.000` for any of them (qemu-server `parse_drive`), which no
// normalizer can read back as the limit written.
const throttle = fc.constantFrom(
  [],
  ["mbps=10.5"],
  ["mbps_rd=10", "mbps_rd_max=20", "bps_rd_length=5"],
  ["mbps_wr=10", "mbps_wr_max=20", "bps_wr_max_length=5"],
  ["iops_rd=100", "iops_rd_max=200", "iops_rd_length=3"],
  ["iops_wr=100", "iops_wr_max=200", "iops_wr_max_length=3"],
  ["iops=500", "iops_max=1000", "iops_max_length=2"]
)
const scsiDrive = fc.tuple(
  fc.constantFrom("local-lvm:vm-200-disk-0", "none", "cdrom").chain((v) =>
    volumeSpelling(v, ["file", "volume"]).map((spelled) => ({ volume: v, spelled }))
  ),
  fc.constantFrom(undefined, "cdrom", "disk"),
  fc.option(size, { nil: undefined }),
  flags(["ssd", "iothread", "backup", "replicate", "ro", "detect_zeroes"]),
  fc.option(fc.constantFrom("cache=writeback", "cache=none", "discard=on", "aio=io_uring"), { nil: undefined }),
  throttle
).filter(([v, media]) => !(v.volume === "cdrom" && media === "disk")).chain(([v, media, sz, bools, opt, limits]) =>
  anyOrder(fc.constant([
    v.spelled,
    ...(media === undefined ? [] : [`media=${media}`]),
    ...(sz === undefined ? [] : [sz]),
    ...bools,
    ...(opt === undefined ? [] : [opt]),
    ...limits
  ]))
)
const efidisk = fc.tuple(
  volumeSpelling("local-lvm:vm-200-disk-1", ["file", "volume"]),
  fc.option(size, { nil: undefined }),
  flags(["pre-enrolled-keys"]),
  fc.option(fc.constantFrom("efitype=4m", "efitype=2m"), { nil: undefined })
).chain(([v, sz, bools, type]) =>
  anyOrder(fc.constant([v, ...(sz === undefined ? [] : [sz]), ...bools, ...(type === undefined ? [] : [type])]))
)
const lxcVolume = (withMp: boolean) =>
  fc.tuple(
    volumeSpelling("local-lvm:vm-201-disk-1", ["volume"]),
    fc.option(size, { nil: undefined }),
    flags(["acl", "ro", "quota", "replicate", ...(withMp ? ["backup"] : [])]),
    fc.option(fc.constantFrom("mountoptions=noatime;nodev", "mountoptions=discard"), { nil: undefined })
  ).chain(([v, sz, bools, opts]) =>
    anyOrder(
      fc.constant([
        v,
        ...(withMp ? ["mp=/data"] : []),
        ...(sz === undefined ? [] : [sz]),
        ...bools,
        ...(opts === undefined ? [] : [opts])
      ])
    )
  )
const memory = fc.integer({ min: 16, max: 1 << 20 }).chain((n) => fc.constantFrom(String(n), `current=${n}`))

const roundTrips = (type: GuestType, key: string, arb: fc.Arbitrary<string>) =>
  it(`${type} ${key}: PVE's read-back of any accepted value equals the value written`, () => {
    fc.assert(
      fc.property(arb, ctxArb, (value, ctx) => {
        const back = pveRoundTrip(type, key, value, ctx)
        expect(String(back)).not.toContain("REJECTED")
        expect(isEqual(type, key, value, back, ctx)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })

describe("no drift after a PVE write → read round trip", () => {
  roundTrips("qemu", "description", description)
  roundTrips("lxc", "description", description)
  roundTrips("qemu", "tags", tags)
  roundTrips("lxc", "tags", tags)
  roundTrips("lxc", "nameserver", nameservers)
  roundTrips("lxc", "searchdomain", searchdomains)
  roundTrips("qemu", "memory", memory)
  roundTrips("qemu", "net0", qemuNet)
  roundTrips("lxc", "net1", lxcNet)
  roundTrips("qemu", "scsi1", scsiDrive)
  roundTrips("qemu", "efidisk0", efidisk)
  roundTrips("lxc", "mp0", lxcVolume(true))
  roundTrips("lxc", "rootfs", lxcVolume(false))
})
