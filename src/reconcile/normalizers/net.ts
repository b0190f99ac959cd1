/**
 * `netN` for both guest types (qemu-server `PVE::QemuServer::Network::print_net`, pve-container
 * `PVE::LXC::Config::parse_lxc_network`). PVE re-prints the
 * property string in its own order, normalizes boolean sub-options to 1/0, generates a MAC
 * when none is given and keeps the case of a MAC the user gave. So: compare as maps, MACs
 * case-insensitively, and ignore the observed MAC unless the desired value names one.
 */
import { NIC_MODELS } from "../../domain/configSchema/qemu.js"
import type { ConfigValue } from "../../domain/GuestConfig.js"
import {
  booleanSubKeys,
  canonicalizeMap,
  parseProperties,
  printCanonical,
  type PropertyMap,
  type PropertySpec
} from "./propertyString.js"
import type { FieldNormalizer, InputValue } from "./types.js"

/** qemu NIC models; each doubles as a key whose value is the MAC (`virtio=BC:24:11:…`). */
export const QEMU_NIC_MODELS: ReadonlySet<string> = new Set(NIC_MODELS)

const qemuSpec: PropertySpec = {
  family: "net",
  booleans: booleanSubKeys("qemu", "net0"),
  numbers: ["mtu", "queues", "rate", "tag"],
  upper: ["macaddr"],
  dropDefaults: { firewall: "0", link_down: "0" }
}

const lxcSpec: PropertySpec = {
  family: "net",
  booleans: booleanSubKeys("lxc", "net0"),
  numbers: ["mtu", "rate", "tag"],
  upper: ["hwaddr"],
  dropDefaults: { firewall: "0", link_down: "0" },
  // PVE adds `type=veth` to every container NIC (pve-container `PVE::LXC::Config::parse_lxc_network`).
  fill: { type: "veth" }
}

/** qemu: `virtio=MAC` and a bare `virtio` become `model=virtio` (+ `macaddr=MAC`). */
const qemuNetMap = (text: string): PropertyMap => {
  const parsed: PropertyMap = new Map()
  for (const [k, v] of parseProperties(text)) {
    if (QEMU_NIC_MODELS.has(k)) {
      parsed.set("model", k)
      if (v !== "") parsed.set("macaddr", v)
    } else {
      parsed.set(k, v)
    }
  }
  return canonicalizeMap(qemuSpec, parsed)
}

const lxcNetMap = (text: string): PropertyMap => canonicalizeMap(lxcSpec, parseProperties(text))

const withoutKey = (map: PropertyMap, key: string): PropertyMap => {
  const copy = new Map(map)
  copy.delete(key)
  return copy
}

/** Prints the qemu form PVE itself writes: `MODEL=MAC` first, then the rest sorted. */
const printQemuNet = (map: PropertyMap): string => {
  const model = map.get("model")
  const mac = map.get("macaddr")
  if (model === undefined) return printCanonical(map)
  const head = mac === undefined ? model : `${model}=${mac}`
  const rest = printCanonical(withoutKey(withoutKey(map, "model"), "macaddr"))
  return rest === "" ? head : `${head},${rest}`
}

const makeNet = (
  toMap: (text: string) => PropertyMap,
  macKey: string,
  print: (map: PropertyMap) => string
): FieldNormalizer => ({
  family: "net",
  normalize: (value: InputValue) => printCanonical(toMap(String(value))),
  // A MAC PVE generated is not drift unless the document asks for a specific one.
  equal: (desired, observed) => {
    const d = toMap(desired)
    const o = toMap(observed)
    return printCanonical(d) === printCanonical(d.has(macKey) ? o : withoutKey(o, macKey))
  },
  // Rewriting a NIC without its MAC would make PVE generate a new one: carry the observed MAC.
  toWrite: (desired: ConfigValue, observed: ConfigValue | undefined) => {
    const d = toMap(String(desired))
    const mac = observed === undefined ? undefined : toMap(String(observed)).get(macKey)
    if (!d.has(macKey) && mac !== undefined) d.set(macKey, mac)
    return print(d)
  }
})

export const qemuNet = makeNet(qemuNetMap, "macaddr", printQemuNet)
export const lxcNet = makeNet(lxcNetMap, "hwaddr", printCanonical)

export const NET_KEY_RE = /^net\d+$/
