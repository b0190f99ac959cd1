/**
 * A plan as an operator reads it: per guest, each field's current → desired value after
 * normalization (what the comparison actually saw, so quirks never show up as changes), the
 * reason, and the op id each action will be journaled under. Pure; `plan` and `apply` print it,
 * and `--json` emits it as is.
 */
import { type Action, plannedOpId } from "../domain/Action.js"
import type { GuestType } from "../domain/Guest.js"
import { normalizeValue } from "./normalize.js"
import type { ObservedGuest, Plan } from "./plan.js"

export interface FieldChange {
  readonly key: string
  /** The value PVE holds; null = not set (or a value PVE treats as not set). */
  readonly current: string | null
  /** The value as the desired document gives it; null = to be deleted. */
  readonly desired: string | null
  readonly reason: string
}

export interface ActionReport {
  readonly action: Action["_tag"]
  readonly opId: string
  readonly changes: ReadonlyArray<FieldChange>
  /** Why the reversibility gate would refuse this action as planned, if it would. */
  readonly gateRefusal?: { readonly message: string; readonly keys: ReadonlyArray<string> }
}

export interface GuestReport {
  readonly vmid: number
  readonly node: string
  readonly type: GuestType
  readonly actions: ReadonlyArray<ActionReport>
}

export interface PlanReport {
  readonly revision: string | null
  readonly actionCount: number
  readonly guests: ReadonlyArray<GuestReport>
  readonly skipped: Plan["skipped"]
  readonly restartRequired: Plan["restartRequired"]
  readonly invalid: Plan["invalid"]
  readonly missing: Plan["missing"]
  readonly unmanaged: Plan["unmanaged"]
  /** Desired guests on another node: that node's agent manages them (node scope). */
  readonly elsewhere: Plan["elsewhere"]
}

const changesOf = (action: Action, observed: ObservedGuest | undefined): ReadonlyArray<FieldChange> => {
  const type = action.guest.type
  switch (action._tag) {
    case "Start":
      return [{ key: "power", current: observed?.status?.status ?? null, desired: "running", reason: "start" }]
    case "Stop":
      return [{
        key: "power",
        current: observed?.status?.status ?? null,
        desired: "stopped",
        reason: `shutdown, hard stop after ${action.shutdownTimeout}s`
      }]
    case "SetConfig": {
      const values = observed?.config?.values ?? {}
      // Shown as PVE holds them and as the operator wrote them (memory "2048", not its
      // normalized "current=2048"); the comparison behind the action used the normalized forms.
      const now = (key: string) => {
        const raw = Object.hasOwn(values, key) ? values[key] : undefined
        return normalizeValue(type, key, raw) === undefined || raw === undefined ? null : String(raw)
      }
      const sets = Object.keys(action.set).sort().map((key): FieldChange => {
        const current = now(key)
        const want = action.set[key]
        return {
          key,
          current,
          desired: want === undefined ? null : String(want),
          reason: current === null ? "not set" : "differs"
        }
      })
      const deletes = action.delete.map((key): FieldChange => ({
        key,
        current: now(key),
        desired: null,
        reason: "desired null: delete"
      }))
      return [...sets, ...deletes]
    }
    default:
      // Signed-op actions (HardStop, Shutdown, snapshots) never come out of a plan.
      return [{ key: action._tag, current: null, desired: null, reason: "not a planned action" }]
  }
}

/** What the gate would say of a planned action: its refusal, or undefined when it lets it run. */
export type GateVerdict = (
  action: Action
) => { readonly message: string; readonly keys: ReadonlyArray<string> } | undefined

export const planReport = (plan: Plan, observed: ReadonlyArray<ObservedGuest>, gate?: GateVerdict): PlanReport => {
  const byVmid = new Map(observed.map((o) => [o.guest.vmid as number, o]))
  const guests = new Map<number, { vmid: number; node: string; type: GuestType; actions: Array<ActionReport> }>()
  for (const action of plan.actions) {
    const { vmid, node, type } = action.guest
    const entry = guests.get(vmid) ?? { vmid, node, type, actions: [] }
    const refusal = gate?.(action)
    entry.actions.push({
      action: action._tag,
      opId: plannedOpId(action, plan.revision),
      changes: changesOf(action, byVmid.get(vmid)),
      ...(refusal === undefined ? {} : { gateRefusal: refusal })
    })
    guests.set(vmid, entry)
  }
  return {
    revision: plan.revision ?? null,
    actionCount: plan.actions.length,
    guests: [...guests.values()],
    skipped: plan.skipped,
    restartRequired: plan.restartRequired,
    invalid: plan.invalid,
    missing: plan.missing,
    unmanaged: plan.unmanaged,
    elsewhere: plan.elsewhere
  }
}

const show = (v: string | null): string => (v === null ? "(unset)" : JSON.stringify(v))

/** The terraform-like text form. */
export const renderPlan = (r: PlanReport): string => {
  const lines: Array<string> = []
  const rev = r.revision === null ? "" : ` (revision ${r.revision})`
  lines.push(
    r.actionCount === 0
      ? `No changes${rev}: the guests match the desired state.`
      : `Plan${rev}: ${r.actionCount} action(s) on ${r.guests.length} guest(s)`
  )
  for (const g of r.guests) {
    lines.push("", `  ~ ${g.type}/${g.vmid} on ${g.node}`)
    for (const a of g.actions) {
      lines.push(`      ${a.action}  (op ${a.opId.slice(0, 12)})`)
      for (const c of a.changes) {
        const sign = c.desired === null ? "-" : c.current === null ? "+" : "~"
        lines.push(
          `        ${sign} ${c.key}: ${show(c.current)} → ${
            c.desired === null ? "(deleted)" : show(c.desired)
          }   # ${c.reason}`
        )
      }
      if (a.gateRefusal !== undefined) {
        lines.push(`        ✗ ${a.gateRefusal.message}`)
        lines.push(
          a.gateRefusal.keys.length > 0
            ? `          to allow it: --allow-keys ${
              a.gateRefusal.keys.join(",")
            } (or gate.allowKeys / FELHOM_GATE_ALLOW_KEYS), or send it as a signed op`
            : "          only a signed op from a signer with the irreversible capability can run it"
        )
      }
    }
  }
  if (r.skipped.length > 0) lines.push("", "Skipped:", ...r.skipped.map((s) => `  ! ${s.vmid}: ${s.reason}`))
  if (r.restartRequired.length > 0) {
    lines.push(
      "",
      "Restart required (pending changes; never restarted by the agent):",
      ...r.restartRequired.map((p) => `  ${p.vmid}: ${p.keys.join(", ")}`)
    )
  }
  lines.push(
    "",
    `Missing (desired, not in the cluster): ${r.missing.length}${
      r.missing.length > 0 ? ` — ${r.missing.join(", ")}` : ""
    }`
  )
  lines.push(`Unmanaged (in the cluster, not desired; left alone): ${r.unmanaged.length}`)
  if (r.elsewhere.length > 0) {
    lines.push(
      `On other nodes (desired; their nodes' agents manage them): ${r.elsewhere.length} — ${
        r.elsewhere.map((e) => `${e.vmid} on ${e.node}`).join(", ")
      }`
    )
  }
  return lines.join("\n")
}
