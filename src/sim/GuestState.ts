/**
 * A guest's state and its config "file" (qemu-server `PVE::QemuServer::parse_vm_config` /
 * `write_vm_config`, pve-container `PVE::LXC::Config::parse_pct_config` / `write_pct_config`):
 * main section, the pending section (`[PENDING]` qemu, `[pve:pending]` lxc) and one `[snapname]`
 * section per snapshot, with the description as `#` lines (pve-common
 * `PVE::ParseUtils::encode_text`). The digest is the SHA-1 of that text, so it is
 * content-based: an identical rewrite keeps it.
 */
import { createHash } from "node:crypto"
import { splitList } from "./Params.js"

export type GuestKind = "qemu" | "lxc"

/**
 * A running qemu guest's QMP run state (qemu-server `PVE::API2::Qemu::vm_status`): `paused`
 * after the suspend API (qmpause), `suspended` when the guest put itself to sleep (S3). Only
 * meaningful while running.
 */
export type RunState = "running" | "paused" | "suspended"

/** The requested state of an HA resource (pve-ha-manager resources.cfg `state`). */
export type HaRequest = "started" | "stopped" | "disabled" | "ignored"

/**
 * An HA resource: the requested state and the CRM's service state as the manager status shows
 * it (pve-ha-manager `PVE::HA::Manager`: stopped, request_start, started, request_stop, error).
 */
export interface HaResource {
  state: HaRequest
  crm: string
  /** A queued `crm-command stop SID TIMEOUT` not yet handled by the CRM. */
  stopCommand: number | undefined
}

export interface GuestState {
  readonly vmid: number
  readonly kind: GuestKind
  node: string
  running: boolean
  runState: RunState
  /** Undefined = not configured for HA. */
  ha: HaResource | undefined
  /** ms epoch of the last start (uptime) and of creation (statsDelay). */
  startedAt: number
  readonly createdAt: number
  pid: number
  /** Stored values (as in the file); `description` holds the decoded text. */
  config: Map<string, string>
  pending: Map<string, string>
  /** Pending deletes; true = forced (`!key`). */
  pendingDelete: Map<string, boolean>
  snapshots: Map<string, Map<string, string>>
  digestCache: string | undefined
}

/** `encode_text` (pve-common `PVE::ParseUtils`): `%`, `:`, control and non-ASCII characters are escaped. */
const encodeLine = (line: string): string => {
  let out = ""
  for (const ch of line) {
    const c = ch.codePointAt(0) ?? 0
    if (c < 0x20 || c > 0x7e || ch === "%" || ch === ":") {
      for (const byte of Buffer.from(ch, "utf8")) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`
    } else out += ch
  }
  return out
}

/**
 * The stored form of a description: split on `\n`, trailing empty pieces dropped (Perl split).
 * Undefined = empty, i.e. the key is not written (qemu-server `PVE::QemuServer::write_vm_config`).
 */
export const storeDescription = (text: string): string | undefined => {
  const lines = text.split("\n")
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop()
  return lines.length === 0 ? undefined : lines.join("\n")
}

/**
 * Read-back asymmetry (qemu-server `PVE::QemuServer::parse_vm_config`, pve-container
 * `PVE::LXC::Config::parse_pct_config`): qemu trims trailing whitespace, lxc ends with exactly one `\n`.
 */
export const readDescription = (kind: GuestKind, stored: string): string =>
  kind === "qemu" ? stored.replace(/\s+$/u, "") : `${stored}\n`

export interface TagStyle {
  readonly caseSensitive?: boolean
  readonly ordering?: "alphabetical" | "config"
}

/** `get_unique_tags` (pve-guest-common `PVE::GuestHelpers`): dedupe, lowercase, sort, join with `;`. */
export const normalizeTags = (input: string, style: TagStyle = {}): string => {
  const cs = style.caseSensitive === true
  const seen = new Set<string>()
  const tags: Array<string> = []
  for (const raw of splitList(input)) {
    const t = cs ? raw : raw.toLowerCase()
    if (seen.has(t)) continue
    seen.add(t)
    tags.push(t)
  }
  if (style.ordering !== "config") {
    tags.sort(cs ? (a, b) => (a < b ? -1 : a > b ? 1 : 0) : (a, b) => a.toLowerCase().localeCompare(b.toLowerCase()))
  }
  return tags.join(";")
}

/**
 * lxc `nameserver` / `searchdomain` as stored (pve-container `PVE::LXC::Config::update_pct_config`
 * → `PVE::LXC::verify_nameserver_list` / `verify_searchdomain_list`): the items of
 * `split_list` joined by one space, whatever separated them in the request.
 */
export const storeLxcDnsList = (input: string): string => splitList(input).join(" ")

const sortedKeys = (m: ReadonlyMap<string, string>): Array<string> =>
  [...m.keys()].filter((k) => k !== "description").sort()

const section = (values: ReadonlyMap<string, string>, lines: Array<string>): void => {
  const desc = values.get("description")
  if (desc !== undefined) { for (const l of desc.split("\n")) lines.push(`#${encodeLine(l)}`) }
  for (const key of sortedKeys(values)) lines.push(`${key}: ${values.get(key) ?? ""}`)
}

/** The whole config file text, deterministic (sorted keys, sorted snapshot sections). */
export const serializeConfig = (g: GuestState): string => {
  const lines: Array<string> = []
  section(g.config, lines)
  if (g.pending.size > 0 || g.pendingDelete.size > 0) {
    lines.push("", g.kind === "qemu" ? "[PENDING]" : "[pve:pending]")
    if (g.pendingDelete.size > 0) {
      const del = [...g.pendingDelete.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, f]) => (f ? `!${k}` : k))
      lines.push(`delete: ${del.join(",")}`)
    }
    section(g.pending, lines)
  }
  for (const name of [...g.snapshots.keys()].sort()) {
    const snap = g.snapshots.get(name)
    if (snap === undefined) continue
    lines.push("", `[${name}]`)
    section(snap, lines)
  }
  return `${lines.join("\n")}\n`
}

export const digestOf = (g: GuestState): string => {
  if (g.digestCache === undefined) g.digestCache = createHash("sha1").update(serializeConfig(g)).digest("hex")
  return g.digestCache
}

/** Call after any change of config, pending or snapshots. */
export const touched = (g: GuestState): void => {
  g.digestCache = undefined
}

/**
 * The "name" lists and stats show: qemu default "VM ID", lxc hostname sans whitespace or "CTID"
 * (qemu-server `PVE::QemuServer::vmstatus`, pve-container `PVE::LXC::vmstatus`).
 */
export const guestName = (g: GuestState): string =>
  g.kind === "qemu"
    ? (g.config.get("name") ?? `VM ${g.vmid}`)
    : (g.config.get("hostname")?.replace(/\s/g, "") ?? `CT${g.vmid}`)

/** The config path PVE names in "does not exist" errors (`PVE::AbstractConfig::load_config`). */
export const configPath = (kind: GuestKind, node: string, vmid: number): string =>
  `nodes/${node}/${kind === "qemu" ? "qemu-server" : "lxc"}/${vmid}.conf`

/**
 * pve-ha-manager `PVE::HA::Config::vm_is_ha_managed`: configured and not `ignored` (an ignored
 * resource behaves as if HA did not manage it).
 */
export const haManaged = (g: GuestState): boolean => g.ha !== undefined && g.ha.state !== "ignored"

export const noun = (kind: GuestKind): "VM" | "CT" => (kind === "qemu" ? "VM" : "CT")
