/**
 * Property strings as PVE stores them after a write (pve-common
 * `PVE::JSONSchema::print_property_string`, qemu-server `PVE::QemuServer::Network::print_net`,
 * pve-container `PVE::LXC::Config::parse_lxc_network`; MAC prefix from pve-cluster
 * `PVE::DataCenterConfig`): the default key first, then the other keys sorted, booleans
 * normalised to 1/0, MACs generated with the datacenter prefix BC:24:11 when missing (user MAC
 * case kept). These re-print a value the config schema already took (QemuConfigSchema.ts,
 * LxcConfigSchema.ts); they do not check it again. Pure apart from the injected MAC generator.
 */
import { parseSize } from "./Formats.js"
import { lxcNetFormat } from "./LxcConfigSchema.js"
import { parseProperties, printProperties, readProperties } from "./PropertyFormat.js"
import { memoryFormat, netFormat } from "./QemuConfigSchema.js"

export type Canon = { readonly ok: string } | { readonly error: string }

/** qemu `netN`: `MODEL=MAC` first (qemu-server `PVE::QemuServer::Network::print_net`). */
export const canonicalQemuNet = (value: string, newMac: () => string): Canon => {
  const net = readProperties(netFormat, value)
  if ("error" in net) return net
  if (!net.ok.has("macaddr")) net.ok.set("macaddr", newMac())
  return { ok: printProperties(netFormat, net.ok) }
}

/**
 * lxc `netN`: `name=eth0` first, `hwaddr` generated, `type=veth` set (pve-container
 * `PVE::LXC::Config::parse_lxc_network`, `print_lxc_network`).
 */
export const canonicalLxcNet = (value: string, newMac: () => string): Canon => {
  const net = readProperties(lxcNetFormat, value)
  if ("error" in net) return net
  net.ok.set("type", "veth")
  const hw = net.ok.get("hwaddr")
  if (hw === undefined || hw === "" || hw === "0") net.ok.set("hwaddr", newMac())
  return { ok: printProperties(lxcNetFormat, net.ok) }
}

/** qemu `memory` (qemu-server `PVE::QemuServer::Memory` `$memory_fmt`): `N` or `current=N`, printed `N`. */
export const canonicalQemuMemory = (value: string): Canon => {
  const memory = parseProperties(memoryFormat, value)
  if ("error" in memory) return memory
  return { ok: String(Number(memory.ok.get("current"))) }
}

/** The memory MiB of a qemu `memory` value (default 512, qemu-server `PVE::QemuServer::Memory`). */
export const qemuMemoryMiB = (value: string | undefined): number => {
  if (value === undefined) return 512
  const c = canonicalQemuMemory(value)
  return "ok" in c ? Number(c.ok) : 512
}

/** `size=8G` of a disk property string, in bytes (0 when absent). */
export const diskSizeBytes = (value: string | undefined): number => {
  const size = value === undefined ? undefined : /(?:^|,)size=([^,]*)/.exec(value)?.[1]
  return size === undefined ? 0 : parseSize(size) ?? 0
}
