/**
 * The plan (docs/architecture.md, invariant 3): desired document + observed cluster → the fewest actions
 * that converge them. Pure and deterministic (guests by ascending vmid). Only guests present on
 * both sides get actions; SetConfig carries only the keys that differ after normalization
 * (invariant 2) plus the digest it was planned against. Locked guests and templates are
 * skipped with a reason; pending changes are reported as "restart required", never acted on.
 *
 * Order within a guest: SetConfig first, then the power action (Start or Stop). Writing before
 * a Start means the guest boots with the new config instead of leaving it pending; writing
 * before a Stop keeps one order for every guest, and the written keys apply at the next start.
 */
import { Either, Schema } from "effect"
import { type Action, SetConfig, Start, Stop } from "../domain/Action.js"
import type { ClusterGuest, GuestStatus } from "../domain/Cluster.js"
import { validateConfig, validateValues } from "../domain/configSchema.js"
import type { DesiredGuest, DesiredState } from "../domain/DesiredState.js"
import { GuestRef } from "../domain/Guest.js"
import type { ConfigValue, GuestConfig, PendingEntry } from "../domain/GuestConfig.js"
import { pendingKeys } from "../domain/GuestConfig.js"
import type { Vmid } from "../domain/Vmid.js"
import { defaultNormalizeContext, IGNORED_KEYS, isEqual, type NormalizeContext, valueToSet } from "./normalize.js"

export interface ObservedGuest {
  /** The /cluster/resources row: where the guest lives, its type, template flag and lock. */
  readonly guest: ClusterGuest
  /**
   * Power state: the list's (running/stopped, possibly seconds stale) in a pass where the plan
   * has no power action for the guest, else status/current read fresh (observe.ts); without it
   * (and config) a desired guest is skipped, never guessed.
   */
  readonly status?: GuestStatus
  /**
   * GET config as PVE answers by default: pending values merged (pve-guest-common
   * `PVE::AbstractConfig::load_current_config`); observe derives it from /pending.
   */
  readonly config?: GuestConfig
  /** GET /pending: the "restart required" signal (qemu-server `PVE::QemuServer::vmconfig_hotplug_pending`). */
  readonly pending?: ReadonlyArray<PendingEntry>
}

export interface PlanOptions {
  readonly ctx?: NormalizeContext
  /** Seconds a Stop gives the guest to shut down before the hard stop (default 60, PVE's own). */
  readonly shutdownTimeout?: number
  /**
   * The node whose guests this plan acts on (node scope, NodeScope.ts); absent, every node's.
   * A desired guest on another node is reported in `elsewhere`, never planned.
   */
  readonly node?: string | undefined
}

export interface Plan {
  readonly revision: string | undefined
  readonly actions: ReadonlyArray<Action>
  readonly skipped: ReadonlyArray<{ readonly vmid: Vmid; readonly reason: string }>
  /** Desired but not in the cluster: reported, never created. */
  readonly missing: ReadonlyArray<Vmid>
  /** In the cluster (on this plan's node, in node scope) but not desired: reported, never touched. */
  readonly unmanaged: ReadonlyArray<Vmid>
  /** Desired, but on another node now: that node's agent owns them (node scope only). */
  readonly elsewhere: ReadonlyArray<{ readonly vmid: Vmid; readonly node: string }>
  readonly restartRequired: ReadonlyArray<{ readonly vmid: Vmid; readonly keys: ReadonlyArray<string> }>
  /**
   * Desired config that PVE's schema refuses for the guest's type (a typo, a value out of range,
   * a key PVE keeps for itself), by path. Non-empty means no action at all: a document with an
   * error is not applied in part.
   */
  readonly invalid: ReadonlyArray<{ readonly path: string; readonly message: string }>
}

export const DEFAULT_SHUTDOWN_TIMEOUT = 60

type Skip = { readonly vmid: Vmid; readonly reason: string }

/** The lock PVE holds on the guest, wherever it shows (status, config or cluster row). */
const lockOf = (o: ObservedGuest): string | undefined => {
  const fromConfig = o.config?.values.lock
  return o.status?.lock ?? (fromConfig === undefined ? undefined : String(fromConfig)) ?? o.guest.lock
}

const isOne = (v: unknown): boolean => v === 1 || v === "1"

const isTemplate = (o: ObservedGuest): boolean =>
  isOne(o.guest.template) || isOne(o.status?.template) || isOne(o.config?.values.template)

const decodeRef = Schema.decodeUnknownEither(GuestRef)

/** Why a guest gets no action at all, or undefined when it may be planned. */
const skipReason = (o: ObservedGuest): string | undefined => {
  if (isTemplate(o)) return "template: templates are never started, stopped or reconfigured"
  const lock = lockOf(o)
  if (lock !== undefined && lock !== "") return `locked (${lock}): retry once PVE releases the lock`
  if (o.status === undefined || o.config === undefined) return "not fully observed (status or config missing)"
  return undefined
}

/** Keys to set (normalized-unequal) and to delete (desired null, observed present). */
export const configDiff = (
  type: ClusterGuest["type"],
  desired: Readonly<Record<string, ConfigValue | null>>,
  observed: GuestConfig,
  ctx: NormalizeContext
): { readonly set: Record<string, ConfigValue>; readonly delete: ReadonlyArray<string> } => {
  const set: Record<string, ConfigValue> = {}
  const del: Array<string> = []
  for (const key of Object.keys(desired).sort()) {
    if (IGNORED_KEYS.has(key)) continue
    const want = desired[key]
    const have = Object.hasOwn(observed.values, key) ? observed.values[key] : undefined
    if (want === undefined) continue
    if (want === null) {
      // Deleting a key that is not there is not an action (PVE would only warn, `$update_vm_api`).
      if (have !== undefined) del.push(key)
    } else if (!isEqual(type, key, want, have, ctx)) {
      set[key] = valueToSet(type, key, want, have, ctx)
    }
  }
  return { set, delete: del }
}

/** Start/Stop for the desired power; a paused qemu guest is left alone and reported. */
const powerActions = (
  ref: GuestRef,
  want: DesiredGuest["power"],
  status: GuestStatus,
  shutdownTimeout: number
): { readonly actions: ReadonlyArray<Action>; readonly skip?: string } => {
  if (want === undefined) return { actions: [] }
  const qmp = status.qmpstatus
  // A running VM may be paused/suspended (status running, qmpstatus paused, qemu-server
  // `PVE::API2::Qemu::vm_status`): starting it
  // fails and shutting it down is refused by PVE; someone paused it on purpose.
  if (status.status === "running" && qmp !== undefined && qmp !== "running") {
    const current = want === "running" ? "not started" : "not stopped"
    return { actions: [], skip: `qmpstatus ${qmp}: ${current}; resume or stop it by hand` }
  }
  if (want === "running" && status.status === "stopped") return { actions: [Start.make({ guest: ref })] }
  if (want === "stopped" && status.status === "running") {
    return { actions: [Stop.make({ guest: ref, shutdownTimeout })] }
  }
  return { actions: [] }
}

interface GuestPlan {
  readonly actions: ReadonlyArray<Action>
  readonly skips: ReadonlyArray<string>
}

const planGuest = (
  desired: DesiredGuest,
  o: ObservedGuest,
  options: Required<Omit<PlanOptions, "node">>
): GuestPlan => {
  const early = skipReason(o)
  if (early !== undefined || o.status === undefined || o.config === undefined) {
    return { actions: [], skips: [early ?? ""] }
  }
  const ref = decodeRef({ vmid: o.guest.vmid, node: o.guest.node, type: o.guest.type })
  if (Either.isLeft(ref)) return { actions: [], skips: [`invalid guest reference: ${ref.left.message}`] }
  const diff = configDiff(o.guest.type, desired.config ?? {}, o.config, options.ctx)
  const actions: Array<Action> = []
  if (Object.keys(diff.set).length > 0 || diff.delete.length > 0) {
    actions.push(SetConfig.make({ guest: ref.right, set: diff.set, delete: diff.delete, digest: o.config.digest }))
  }
  const power = powerActions(ref.right, desired.power, o.status, options.shutdownTimeout)
  return { actions: [...actions, ...power.actions], skips: power.skip === undefined ? [] : [power.skip] }
}

const byVmid = (a: number, b: number): number => a - b

/** Desired guests keyed by numeric vmid; keys were validated by the DesiredState schema. */
const desiredByVmid = (desired: DesiredState): ReadonlyMap<number, DesiredGuest> =>
  new Map(Object.entries(desired.guests).map(([k, g]) => [Number(k), g] as const))

export const plan = (
  desired: DesiredState,
  observed: ReadonlyArray<ObservedGuest>,
  options: PlanOptions = {}
): Plan => {
  const opts: Required<Omit<PlanOptions, "node">> & Pick<PlanOptions, "node"> = {
    ctx: options.ctx ?? defaultNormalizeContext,
    shutdownTimeout: options.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT,
    node: options.node
  }
  const ours = (o: ObservedGuest): boolean => opts.node === undefined || o.guest.node === opts.node
  const wanted = desiredByVmid(desired)
  const seen = new Map<number, ObservedGuest>()
  // The first row wins should the cluster list a vmid twice (it is cluster-unique in PVE).
  for (const o of observed) if (!seen.has(o.guest.vmid)) seen.set(o.guest.vmid, o)
  // Checked here because a key's rules depend on the guest's type and, for a few (PVE's old-vs-new
  // permission rules), on its current value: both known once it is observed. A guest this plan
  // does not read (another node's, or one whose read failed) gets its values checked only, so a
  // value it may already hold never stops this node's actions.
  const invalid = [...seen.keys()].sort(byVmid).flatMap((vmid) => {
    const o = seen.get(vmid)
    const config = wanted.get(vmid)?.config
    if (o === undefined || config === undefined) return []
    const issues = ours(o) && o.config !== undefined
      ? validateConfig(o.guest.type, config, o.config.values)
      : validateValues(o.guest.type, config)
    return issues.map((i) => ({
      path: `guests.${vmid}.config.${i.path}`,
      message: i.message
    }))
  })
  const actions: Array<Action> = []
  const skipped: Array<Skip> = []
  const restartRequired: Array<{ vmid: Vmid; keys: ReadonlyArray<string> }> = []
  const elsewhere: Array<{ vmid: Vmid; node: string }> = []
  for (const vmid of [...seen.keys()].sort(byVmid)) {
    const o = seen.get(vmid)
    const d = wanted.get(vmid)
    if (o === undefined || d === undefined) continue
    if (!ours(o)) {
      elsewhere.push({ vmid: o.guest.vmid, node: o.guest.node })
      continue
    }
    const keys = pendingKeys(o.pending ?? [])
    if (keys.length > 0) restartRequired.push({ vmid: o.guest.vmid, keys: [...keys].sort() })
    const g = planGuest(d, o, opts)
    actions.push(...g.actions)
    for (const reason of g.skips) skipped.push({ vmid: o.guest.vmid, reason })
  }
  // Desired keys were checked against ^[1-9][0-9]{2,8}$ when the document was decoded.
  const missing = [...wanted.keys()].filter((v) => !seen.has(v)).sort(byVmid) as Array<Vmid>
  const unmanaged = [...seen.values()].filter(ours).map((o) => o.guest.vmid).filter((v) => !wanted.has(v)).sort(byVmid)
  return {
    revision: desired.revision,
    actions: invalid.length > 0 ? [] : actions,
    skipped,
    missing,
    unmanaged,
    elsewhere,
    restartRequired,
    invalid
  }
}
