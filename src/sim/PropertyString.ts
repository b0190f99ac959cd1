/**
 * Property strings as PVE stores them after a write (pve-common
 * `PVE::JSONSchema::print_property_string`, qemu-server `PVE::QemuServer::Network::print_net`,
 * pve-container `PVE::LXC::Config::parse_lxc_network`; MAC prefix from pve-cluster
 * `PVE::DataCenterConfig`): the default key first, then the other keys sorted, booleans
 * normalised to 1/0, MACs generated with the datacenter prefix BC:24:11 when missing (user MAC
 * case kept). These re-print a value the config schema already took (QemuConfigSchema.ts,
 * LxcConfigSchema.ts); they do not check it again. Pure apart from the injected MAC generator.
 */
export type Canon = { readonly ok: string } | { readonly error: string }

const QEMU_MODELS = new Set([
  "e1000", "e1000-82540em", "e1000-82544gc", "e1000-82545em", "e1000e", "i82551", "i82557b",
  "i82559er", "ne2k_isa", "ne2k_pci", "pcnet", "rtl8139", "virtio", "vmxnet3"
])
const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i
const QEMU_NET_KEYS = new Set(["bridge", "firewall", "link_down", "mtu", "queues", "rate", "tag", "trunks"])
const LXC_NET_KEYS = new Set([
  "bridge", "firewall", "gw", "gw6", "hwaddr", "ip", "ip6", "link_down", "mtu", "rate", "tag", "trunks", "type"
])
const BOOL_KEYS = new Set(["firewall", "link_down"])

/** Splits `a=b,c` into pairs; an item without `=` has key undefined (the default key). */
export const parsePropertyString = (s: string): Array<readonly [string | undefined, string]> =>
  s
    .split(",")
    .filter((x) => x !== "")
    .map((item) => {
      const i = item.indexOf("=")
      return i < 0 ? ([undefined, item] as const) : ([item.slice(0, i), item.slice(i + 1)] as const)
    })

/** `parse_boolean` in property strings accepts 1/on/yes/true and 0/off/no/false. */
const normBool = (v: string): string | undefined =>
  /^(1|on|yes|true)$/i.test(v) ? "1" : /^(0|off|no|false)$/i.test(v) ? "0" : undefined

const sortedTail = (m: Map<string, string>): Array<string> =>
  [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`)

const collect = (
  pairs: ReadonlyArray<readonly [string | undefined, string]>,
  allowed: ReadonlySet<string>,
  into: Map<string, string>
): string | undefined => {
  for (const [k, v] of pairs) {
    if (k === undefined) return `invalid key in comma-separated list property: ${v}\n`
    if (!allowed.has(k)) return `invalid key in comma-separated list property: ${k}\n`
    if (into.has(k)) return `duplicate key in comma-separated list property: ${k}\n`
    if (BOOL_KEYS.has(k)) {
      const b = normBool(v)
      if (b === undefined) return `format error\n${k}: type check ('boolean') failed - got '${v}'\n`
      into.set(k, b)
    } else into.set(k, v)
  }
  return undefined
}

/** qemu `netN`: `MODEL=MAC` first (qemu-server `PVE::QemuServer::Network::print_net`). */
export const canonicalQemuNet = (value: string, newMac: () => string): Canon => {
  let model: string | undefined
  let mac: string | undefined
  const rest: Array<readonly [string | undefined, string]> = []
  for (const [k, v] of parsePropertyString(value)) {
    if (k === undefined && QEMU_MODELS.has(v)) model = v
    else if (k !== undefined && QEMU_MODELS.has(k)) {
      model = k
      mac = v
    } else if (k === "model") model = v
    else if (k === "macaddr") mac = v
    else rest.push([k, v])
  }
  if (model === undefined || !QEMU_MODELS.has(model))
    return { error: "format error\nmodel: property is missing and it is not optional\n" }
  if (mac !== undefined && !MAC_RE.test(mac)) return { error: `format error\nmacaddr: invalid format - value does not look like a valid MAC address\n` }
  const others = new Map<string, string>()
  const err = collect(rest, QEMU_NET_KEYS, others)
  if (err !== undefined) return { error: err }
  return { ok: [`${model}=${mac ?? newMac()}`, ...sortedTail(others)].join(",") }
}

/**
 * lxc `netN`: `name=eth0` first, `hwaddr` generated, `type=veth` set (pve-container
 * `PVE::LXC::Config::parse_lxc_network`, `print_lxc_network`).
 */
export const canonicalLxcNet = (value: string, newMac: () => string): Canon => {
  let name: string | undefined
  const rest: Array<readonly [string | undefined, string]> = []
  for (const [k, v] of parsePropertyString(value)) {
    if (k === "name") name = v
    else rest.push([k, v])
  }
  if (name === undefined) return { error: "format error\nname: property is missing and it is not optional\n" }
  const others = new Map<string, string>()
  const err = collect(rest, LXC_NET_KEYS, others)
  if (err !== undefined) return { error: err }
  const hw = others.get("hwaddr")
  if (hw !== undefined && !MAC_RE.test(hw)) return { error: "format error\nhwaddr: invalid format - value does not look like a valid MAC address\n" }
  if (hw === undefined) others.set("hwaddr", newMac())
  if (!others.has("type")) others.set("type", "veth")
  return { ok: [`name=${name}`, ...sortedTail(others)].join(",") }
}

/** qemu `memory` (qemu-server `PVE::QemuServer::Memory` `$memory_fmt`): `N` or `current=N`, printed `N`. */
export const canonicalQemuMemory = (value: string): Canon => {
  const pairs = parsePropertyString(value)
  const first = pairs[0]
  if (pairs.length !== 1 || first === undefined || (first[0] !== undefined && first[0] !== "current"))
    return { error: "format error\ncurrent: property is missing and it is not optional\n" }
  const v = first[1]
  if (!/^\d+$/.test(v)) return { error: `format error\ncurrent: type check ('integer') failed - got '${v}'\n` }
  if (Number(v) < 16) return { error: "format error\ncurrent: value must have a minimum value of 16\n" }
  return { ok: String(Number(v)) }
}

/** The memory MiB of a qemu `memory` value (default 512, qemu-server `PVE::QemuServer::Memory`). */
export const qemuMemoryMiB = (value: string | undefined): number => {
  if (value === undefined) return 512
  const c = canonicalQemuMemory(value)
  return "ok" in c ? Number(c.ok) : 512
}

/** `size=8G` of a disk property string, in bytes (0 when absent). */
export const diskSizeBytes = (value: string | undefined): number => {
  if (value === undefined) return 0
  const m = /(?:^|,)size=(\d+(?:\.\d+)?)([KMGT]?)/.exec(value)
  if (m === null) return 0
  const unit = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2] as "" | "K" | "M" | "G" | "T"]
  return Math.round(Number(m[1]) * unit)
}
