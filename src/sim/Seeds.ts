/**
 * Guest seeds: how tests and the demo describe the starting cluster, and the generator for
 * "N varied guests" (deterministic under the seed). Seed configs go through the same
 * canonicalization as API writes (tags, net, memory, description).
 */
import type { Acl } from "./Access.js"
import {
  type GuestKind,
  type GuestState,
  type HaRequest,
  normalizeTags,
  type RunState,
  storeDescription,
  type TagStyle
} from "./GuestState.js"
import type { Prng } from "./Prng.js"
import { canonicalLxcNet, canonicalQemuMemory, canonicalQemuNet } from "./PropertyString.js"

export interface SimSnapshotSeed {
  readonly name: string
  readonly description?: string
  /** Epoch seconds; default: creation time. */
  readonly snaptime?: number
  readonly vmstate?: boolean
  /** Overrides on top of the guest's config at seed time. */
  readonly config?: Readonly<Record<string, string | number | undefined>>
}

export interface SimGuestSeed {
  readonly vmid: number
  readonly type: GuestKind
  /** Default: the first node. */
  readonly node?: string
  /**
   * Default "stopped". qemu only: "paused" (suspended by the API) and "suspended" (the guest
   * slept, S3) are running guests whose QMP status says so (qemu-server `PVE::API2::Qemu::vm_status`).
   */
  readonly status?: "running" | "stopped" | "paused" | "suspended"
  readonly template?: boolean
  /** The whole config (replaces the defaults); qemu meta/vmgenid/smbios1 are added when absent. Undefined values are ignored. */
  readonly config?: Readonly<Record<string, string | number | undefined>>
  /**
   * HA resource with this requested state (pve-ha-manager resources.cfg). The CRM state starts
   * as `started` for a running guest and `stopped` otherwise.
   */
  readonly ha?: HaRequest
  /** Oldest first; each one's parent is the previous, the current config's parent the last. */
  readonly snapshots?: ReadonlyArray<SimSnapshotSeed>
}

export interface SimTokenSeed {
  /** "user@realm!name" */
  readonly tokenid: string
  readonly secret: string
  /** Default true, as on PVE token creation (pve-access-control `PVE::API2::User::generate_token`). */
  readonly privsep?: boolean
  /** Token ACLs (privs may use "*" for all). */
  readonly privileges: ReadonlyArray<Acl>
  /** The owning user's ACLs; default: every privilege on "/". */
  readonly userPrivileges?: ReadonlyArray<Acl>
}

export interface SeedContext {
  readonly nodes: ReadonlyArray<string>
  readonly prng: Prng
  readonly tagStyle: TagStyle
  readonly newMac: () => string
  readonly now: number
}

const defaultConfig = (kind: GuestKind, vmid: number): Record<string, string | number> =>
  kind === "qemu"
    ? {
      memory: 2048,
      cores: 1,
      sockets: 1,
      ostype: "l26",
      scsihw: "virtio-scsi-single",
      scsi0: `local-lvm:vm-${vmid}-disk-0,iothread=1,size=32G`,
      net0: "virtio,bridge=vmbr0,firewall=1",
      boot: "order=scsi0;net0"
    }
    : {
      arch: "amd64",
      cores: 1,
      memory: 512,
      swap: 512,
      ostype: "debian",
      rootfs: `local-lvm:vm-${vmid}-disk-0,size=8G`,
      net0: "name=eth0,bridge=vmbr0,ip=dhcp,firewall=1",
      unprivileged: 1
    }

/** Canonical stored value of one seeded key, or undefined to drop it. */
export const canonicalSeedValue = (
  kind: GuestKind,
  key: string,
  raw: string | number,
  ctx: SeedContext
): string | undefined => {
  const v = typeof raw === "number" ? String(raw) : raw
  if (key === "description") return storeDescription(v)
  if (key === "tags") return normalizeTags(v, ctx.tagStyle)
  if (/^net\d+$/.test(key)) {
    const c = kind === "qemu" ? canonicalQemuNet(v, ctx.newMac) : canonicalLxcNet(v, ctx.newMac)
    return "ok" in c ? c.ok : v
  }
  if (kind === "qemu" && key === "memory") {
    const c = canonicalQemuMemory(v)
    return "ok" in c ? c.ok : v
  }
  return v
}

const toMap = (
  kind: GuestKind,
  cfg: Readonly<Record<string, string | number | undefined>>,
  ctx: SeedContext
): Map<string, string> => {
  const m = new Map<string, string>()
  for (const [k, raw] of Object.entries(cfg)) {
    if (raw === undefined) continue
    const v = canonicalSeedValue(kind, k, raw, ctx)
    if (v !== undefined) m.set(k, v)
  }
  return m
}

export const buildGuest = (seed: SimGuestSeed, ctx: SeedContext): GuestState | string => {
  const node = seed.node ?? ctx.nodes[0] ?? "pve1"
  if (!ctx.nodes.includes(node)) return `unknown node '${node}' for guest ${seed.vmid}`
  if (!Number.isInteger(seed.vmid) || seed.vmid < 100 || seed.vmid > 999_999_999) return `invalid vmid ${seed.vmid}`
  const config = toMap(seed.type, seed.config ?? defaultConfig(seed.type, seed.vmid), ctx)
  if (seed.type === "qemu") {
    // Server-generated keys present on every real VM (qemu-server `PVE::QemuServer::json_config_properties`).
    if (!config.has("meta")) config.set("meta", `creation-qemu=9.2.0,ctime=${Math.floor(ctx.now / 1000)}`)
    if (!config.has("vmgenid")) config.set("vmgenid", ctx.prng.uuid())
    if (!config.has("smbios1")) config.set("smbios1", `uuid=${ctx.prng.uuid()}`)
  }
  if (seed.template === true) config.set("template", "1")
  const snapshots = new Map<string, Map<string, string>>()
  let parent: string | undefined
  for (const s of seed.snapshots ?? []) {
    const snap = new Map([...config].filter(([k]) => k !== "description" && k !== "lock"))
    for (const [k, v] of toMap(seed.type, s.config ?? {}, ctx)) snap.set(k, v)
    if (parent !== undefined) snap.set("parent", parent)
    else snap.delete("parent")
    snap.set("snaptime", String(s.snaptime ?? Math.floor(ctx.now / 1000)))
    if (seed.type === "qemu") snap.set("vmstate", s.vmstate === true ? "1" : "0")
    const d = s.description === undefined ? undefined : storeDescription(s.description)
    if (d !== undefined) snap.set("description", d)
    snapshots.set(s.name, snap)
    parent = s.name
  }
  if (parent !== undefined) config.set("parent", parent)
  if (seed.type === "lxc" && (seed.status === "paused" || seed.status === "suspended")) {
    return `guest ${seed.vmid}: status '${seed.status}' exists only for qemu`
  }
  const running = seed.status !== undefined && seed.status !== "stopped" && seed.template !== true
  const runState: RunState = seed.status === "paused" || seed.status === "suspended" ? seed.status : "running"
  const ha = seed.ha === undefined
    ? undefined
    : { state: seed.ha, crm: running ? "started" : "stopped", stopCommand: undefined }
  return {
    vmid: seed.vmid,
    kind: seed.type,
    node,
    running,
    runState,
    ha,
    startedAt: ctx.now,
    createdAt: ctx.now,
    pid: running ? 1000 + ctx.prng.int(4_000_000) : 0,
    config,
    pending: new Map(),
    pendingDelete: new Map(),
    snapshots,
    digestCache: undefined
  }
}

const TAGS = ["prod", "dev", "web", "db", "backup", "k8s", "edge", "lab"]

/** `count` varied guests: ~70 % qemu, spread round-robin over nodes, some running, tags. */
export const generateSeeds = (count: number, nodes: ReadonlyArray<string>, prng: Prng): Array<SimGuestSeed> => {
  const out: Array<SimGuestSeed> = []
  for (let i = 0; i < count; i++) {
    const vmid = 100 + i
    const type: GuestKind = prng.next() < 0.7 ? "qemu" : "lxc"
    const tags = TAGS.filter(() => prng.chance(0.2)).join(";")
    const base = defaultConfig(type, vmid)
    const config: Record<string, string | number> = {
      ...base,
      [type === "qemu" ? "name" : "hostname"]: `${type === "qemu" ? "vm" : "ct"}-${vmid}`,
      memory: [512, 1024, 2048, 4096][prng.int(4)] ?? 1024,
      cores: 1 + prng.int(4),
      ...(tags === "" ? {} : { tags }),
      ...(prng.chance(0.3) ? { onboot: 1 } : {})
    }
    out.push({
      vmid,
      type,
      node: nodes[i % nodes.length] ?? "pve1",
      status: prng.chance(0.6) ? "running" : "stopped",
      config
    })
  }
  return out
}
