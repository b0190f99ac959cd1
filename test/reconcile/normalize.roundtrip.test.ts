/**
 * Write → read through the simulator's model of PVE (description, tags, lxc DNS lists, memory and netN; sources
 * in src/sim/GuestState.ts and src/sim/PropertyString.ts): for any value
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
import { canonicalLxcNet, canonicalQemuMemory, canonicalQemuNet } from "../../src/sim/PropertyString.js"

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
})
