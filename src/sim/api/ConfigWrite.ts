/**
 * One config write, after the schema check of its parameters (QemuConfigSchema.ts,
 * LxcConfigSchema.ts): synchronous pre-checks (qemu-server `PVE::API2::Qemu` `$update_vm_api`,
 * pve-container `PVE::API2::LXC::Config::update_vm` — ssh keys, `delete`/`revert`, drives,
 * per-key privileges, canonical values, digest, lock, balloon ≤ memory), the checks that need
 * the loaded config (ConfigChecks.ts) and the pending model (qemu-server
 * `PVE::QemuServer::vmconfig_hotplug_pending` / `vmconfig_apply_pending`; stopped
 * guest: applied at once; running: fast-plug/hotplug keys live, the rest pending until the
 * next start; a value equal to the current one leaves no pending entry).
 */
import { Either } from "effect"
import { appliesLive, configPrivs, keyInfo } from "../ConfigKeys.js"
import { isDriveName } from "../Formats.js"
import {
  digestOf,
  type GuestKind,
  type GuestState,
  normalizeTags,
  storeDescription,
  storeLxcDnsList
} from "../GuestState.js"
import { splitList } from "../Params.js"
import {
  appliedLxcMountPoint,
  canonicalLxcNet,
  canonicalQemuDrive,
  canonicalQemuMemory,
  canonicalQemuNet,
  qemuMemoryMiB
} from "../PropertyString.js"
import { die, type ParamErrors, paramFail, type Reply } from "../Reply.js"
import { sshKeysProblem } from "../SshKeys.js"
import { applyChecks, driveProblem, keyPermission, storagePermission } from "./ConfigChecks.js"
import { type Check, type Ctx, lockError, needAny, skiplockError, uriVmid, vmPath } from "./Context.js"
import { mergedConfig } from "./Views.js"

const COMMON = new Set(["node", "vmid", "delete", "revert", "digest", "skiplock", "force", "background_delay"])

export interface ConfigChange {
  readonly values: Record<string, string>
  readonly sets: ReadonlyMap<string, string>
  /** key → forced */
  readonly deletes: ReadonlyMap<string, boolean>
  readonly reverts: ReadonlySet<string>
  /** Checks against the loaded guest (digest, lock, balloon); a Reply = refuse. */
  readonly guard: (g: GuestState) => Reply | undefined
  /**
   * The checks that need the old values, run where PVE runs its update loop: after `guard`,
   * holding the flock (for qemu POST inside the `qmconfig` task).
   */
  readonly check: (g: GuestState) => Reply | undefined
}

/**
 * The stored form of a value that passed the schema check: description lines, tags, lxc DNS
 * lists, net property strings with their MAC, qemu memory. qemu drives are re-printed after
 * their `parse_drive` check (`precheckWrite`), lxc mount points when applied (`applyChange`);
 * other values are stored as given.
 */
const canonical = (
  ctx: Ctx,
  kind: GuestKind,
  key: string,
  value: string
): { ok: string | undefined } | { error: string } => {
  if (key === "description") return { ok: storeDescription(value) }
  if (key === "tags") return { ok: normalizeTags(value, ctx.cluster.settings.tagStyle) }
  if (kind === "lxc" && (key === "nameserver" || key === "searchdomain")) return { ok: storeLxcDnsList(value) }
  const mac = () => ctx.cluster.newMac()
  if (/^net\d+$/.test(key)) return kind === "qemu" ? canonicalQemuNet(value, mac) : canonicalLxcNet(value, mac)
  if (kind === "qemu" && key === "memory") return canonicalQemuMemory(value)
  return { ok: value }
}

interface Request {
  readonly sets: Map<string, string>
  readonly deletes: Map<string, boolean>
  readonly reverts: ReadonlyArray<string>
}

/**
 * `delete`, `revert` and the values to set, as `$update_vm_api` / `update_vm` read them: the
 * conflicts between them, unknown keys, `cdrom` as ide2, the stored form of each value.
 */
const readRequest = (ctx: Ctx, kind: GuestKind, values: Record<string, string>): Either.Either<Request, Reply> => {
  const deleteList = splitList(values["delete"] ?? "").map((k) => (kind === "qemu" && k === "cdrom" ? "ide2" : k))
  const reverts = splitList(values["revert"] ?? "")
  const errors: ParamErrors = {}
  const deletes = new Map<string, boolean>()
  for (const raw of deleteList) {
    const key = raw.startsWith("!") ? raw.slice(1) : raw
    if (values[key] !== undefined) errors["delete"] = `you can't use '-${key}' and -delete ${key}' at the same time`
    else if (reverts.includes(key)) {
      errors["delete"] = `you can't use '-delete ${key}' and '-revert ${key}' at the same time`
    } else if (keyInfo(kind, key) === undefined) errors["delete"] = `unknown option '${key}'`
    deletes.set(key, values["force"] === "1")
  }
  for (const key of reverts) {
    if (keyInfo(kind, key) === undefined) errors["revert"] = `unknown option '${key}'`
    else if (values[key] !== undefined) {
      errors["revert"] = `you can't use '-${key}' and '-revert ${key}' at the same time`
    }
  }
  if (values["force"] !== undefined && deleteList.length === 0) errors["force"] = "requires 'delete' parameter"
  const sets = new Map<string, string>()
  for (const key of Object.keys(values).filter((k) => !COMMON.has(k))) {
    // qemu-server `PVE::API2::Qemu` `$resolve_cdrom_alias`: `cdrom` is ide2 holding a CD-ROM.
    const target = kind === "qemu" && key === "cdrom" ? "ide2" : key
    const raw = values[key] ?? ""
    const c = canonical(ctx, kind, target, target !== key && !/media=/.test(raw) ? `${raw},media=cdrom` : raw)
    if ("error" in c) errors[key] = `invalid format - ${c.error}`
    else if (c.ok === undefined) deletes.set(target, false)
    else sets.set(target, c.ok)
  }
  return Object.keys(errors).length > 0 ? Either.left(paramFail(errors)) : Either.right({ sets, deletes, reverts })
}

/** The privileges of every key written, then (qemu) of the storages it allocates on. */
const checkPermissions = (ctx: Ctx, kind: GuestKind, req: Request): Reply | undefined => {
  // qemu checks the deleted and the set keys (a revert only restores a value); lxc also the reverted ones.
  for (const key of [...req.deletes.keys(), ...(kind === "lxc" ? req.reverts : []), ...req.sets.keys()]) {
    const denied = keyPermission(ctx, kind, key)
    if (denied !== undefined) return denied
  }
  return kind === "qemu" ? storagePermission(ctx, req.sets) : undefined
}

export const precheckWrite = (ctx: Ctx, kind: GuestKind, values: Record<string, string>): Check<ConfigChange> =>
  Either.gen(function*() {
    yield* needAny(ctx, vmPath(uriVmid(ctx)), configPrivs(kind))
    const skip = skiplockError(values)
    if (skip !== undefined) return yield* Either.left(skip)
    const sshkeys = kind === "qemu" ? values["sshkeys"] : undefined
    const badKeys = sshkeys === undefined ? undefined : sshKeysProblem(sshkeys)
    if (badKeys !== undefined) return yield* Either.left(die(badKeys))

    const req = yield* readRequest(ctx, kind, values)
    const { sets, deletes, reverts } = req
    if (sets.size === 0 && deletes.size === 0 && reverts.length === 0) {
      return yield* Either.left(die("no options specified"))
    }
    // `$check_drive_param`: a drive the schema took but `parse_drive` does not; the others are
    // stored as `print_drive` prints them, and every later check sees that form.
    for (const key of [...sets.keys()].filter(isDriveName).sort()) {
      const value = sets.get(key) ?? ""
      const problem = driveProblem(key, value)
      if (problem !== undefined) return yield* Either.left(paramFail({ [key]: problem }))
      const printed = canonicalQemuDrive(key, value)
      if ("error" in printed) return yield* Either.left(paramFail({ [key]: "unable to parse drive options" }))
      sets.set(key, printed.ok)
    }
    const denied = checkPermissions(ctx, kind, req)
    if (denied !== undefined) return yield* Either.left(denied)
    if (kind === "lxc") {
      for (const key of deletes.keys()) {
        if (key === "memory" || key === "rootfs" || key === "ostype") {
          return yield* Either.left(die(`unable to delete required option '${key}'`))
        }
      }
      if (sets.has("unprivileged") || deletes.has("unprivileged")) {
        return yield* Either.left(die("unable to modify read-only option: 'unprivileged'"))
      }
    }

    const digest = values["digest"]
    // Deleting `vmstate` discards a hibernation: the `suspended` lock does not refuse it
    // (qemu-server `PVE::API2::Qemu` `$update_vm_api`, `load_and_check_config`).
    const dropsHibernation = (g: GuestState): boolean => deletes.has("vmstate") && g.config.get("lock") === "suspended"
    const guard = (g: GuestState): Reply | undefined => {
      const locked = dropsHibernation(g) ? undefined : lockError(g)
      const mismatch = digest !== undefined && digest !== "" && digest !== digestOf(g)
      const digestFail = die(
        kind === "qemu"
          ? "checksum mismatch (file change by other user?)"
          : "detected modified configuration - file changed by other user? Try again."
      )
      // qemu asserts the digest before the lock; lxc checks the lock first (pve-container
      // `PVE::API2::LXC::Config::update_vm`).
      if (kind === "qemu") {
        if (mismatch) return digestFail
        if (locked !== undefined) return die(locked)
        const merged = mergedConfig(g)
        const memory = sets.has("memory") ? qemuMemoryMiB(sets.get("memory")) : qemuMemoryMiB(merged.get("memory"))
        const balloon = sets.get("balloon") ?? (deletes.has("balloon") ? undefined : merged.get("balloon"))
        if (balloon !== undefined && Number(balloon) > memory) {
          return die("balloon value too large (must be smaller than assigned memory)")
        }
        return undefined
      }
      if (locked !== undefined) return die(locked)
      return mismatch ? digestFail : undefined
    }
    const check = (g: GuestState): Reply | undefined => applyChecks(ctx, g, { sets, deletes })
    return { values, sets, deletes, reverts: new Set(reverts), guard, check }
  })

/** Applies the change under the pending model; logs a `config` mutation iff the file changed. */
export const applyChange = (ctx: Ctx, g: GuestState, change: ConfigChange, upid?: string): void => {
  const before = digestOf(g)
  const hotplug = g.config.get("hotplug")
  // pve-container `vmconfig_hotplug_pending` plugs in new mount points only: a change or delete
  // of an existing one waits for the next start ("don't try to hotplug over existing mp").
  const waits = (key: string): boolean => g.kind === "lxc" && /^mp\d+$/.test(key) && g.config.has(key)
  const live = (key: string): boolean => !g.running || (appliesLive(g.kind, key, hotplug) && !waits(key))
  for (const key of change.reverts) {
    g.pending.delete(key)
    g.pendingDelete.delete(key)
  }
  for (const [key, value] of change.sets) {
    g.pendingDelete.delete(key)
    if (live(key)) {
      g.config.set(key, g.kind === "lxc" ? appliedLxcMountPoint(key, value) : value)
      g.pending.delete(key)
    } else if (g.config.get(key) === value) g.pending.delete(key)
    else g.pending.set(key, value)
  }
  if (change.deletes.has("vmstate")) {
    if (g.config.get("lock") === "suspended") g.config.delete("lock")
    for (const key of ["runningmachine", "runningcpu", "running-nets-host-mtu"]) g.config.delete(key)
  }
  for (const [key, force] of change.deletes) {
    g.pending.delete(key)
    if (live(key)) {
      g.config.delete(key)
      g.pendingDelete.delete(key)
    } else if (g.config.has(key)) g.pendingDelete.set(key, force)
  }
  g.digestCache = undefined
  if (digestOf(g) !== before) {
    const { node: _n, vmid: _v, ...params } = change.values
    ctx.cluster.record(g, "config", params, ctx.token.tokenid, upid)
  }
}
