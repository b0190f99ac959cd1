/**
 * What other actors do to a guest behind the agent's back: a backup job's lock, another user's
 * edit, a guest OS suspending itself, `ha-manager`. Tests stage them through the control API
 * (and the demo simulator sets its locks) to see the agent meet a cluster it does not own
 * alone. A lock, edit or run-state change is logged as a mutation only when it changed the
 * guest (Cluster.ts).
 */
import { Either } from "effect"
import type { SimCluster } from "./Cluster.js"
import { SimControlError } from "./ControlError.js"
import { digestOf, type HaRequest, type RunState, touched } from "./GuestState.js"
import { canonicalSeedValue } from "./Seeds.js"

/** Sets a lock as another actor would (e.g. a backup job): visible everywhere, logged. */
export const setLock = (cluster: SimCluster, vmid: number, lock: string): Either.Either<void, SimControlError> => {
  const g = cluster.guests.get(vmid)
  if (g === undefined) return Either.left(new SimControlError({ message: `no guest ${vmid}` }))
  if (g.config.get("lock") === lock) return Either.void
  g.config.set("lock", lock)
  touched(g)
  cluster.record(g, "lock", { lock }, "root@pam")
  return Either.void
}

export const clearLock = (cluster: SimCluster, vmid: number): Either.Either<void, SimControlError> => {
  const g = cluster.guests.get(vmid)
  if (g === undefined) return Either.left(new SimControlError({ message: `no guest ${vmid}` }))
  if (!g.config.has("lock")) return Either.void
  g.config.delete("lock")
  touched(g)
  cluster.record(g, "unlock", {}, "root@pam")
  return Either.void
}

/** A concurrent edit by another user: changes the live config (and so the digest). */
export const edit = (
  cluster: SimCluster,
  vmid: number,
  change: { readonly set?: Record<string, string | number>; readonly delete?: ReadonlyArray<string> }
): Either.Either<string, SimControlError> => {
  const g = cluster.guests.get(vmid)
  if (g === undefined) return Either.left(new SimControlError({ message: `no guest ${vmid}` }))
  const ctx = cluster.seedContext()
  for (const [k, raw] of Object.entries(change.set ?? {})) {
    const v = canonicalSeedValue(g.kind, k, raw, ctx)
    if (v === undefined) g.config.delete(k)
    else g.config.set(k, v)
  }
  for (const k of change.delete ?? []) g.config.delete(k)
  touched(g)
  cluster.record(g, "edit", { ...change }, "root@pam")
  return Either.right(digestOf(g))
}

/**
 * The guest changes its own run state, as a guest OS does when it suspends to RAM (QMP
 * `suspended`) — or an operator pauses it outside the API. Only for a running qemu guest.
 */
export const setRunState = (
  cluster: SimCluster,
  vmid: number,
  state: RunState
): Either.Either<void, SimControlError> => {
  const g = cluster.guests.get(vmid)
  if (g === undefined) return Either.left(new SimControlError({ message: `no guest ${vmid}` }))
  if (g.kind !== "qemu" || !g.running) {
    return Either.left(new SimControlError({ message: `guest ${vmid} is not a running qemu guest` }))
  }
  if (g.runState === state) return Either.void
  g.runState = state
  cluster.record(g, "runstate", { state }, "root@pam")
  return Either.void
}

/**
 * Puts a guest under HA with a requested state (as `ha-manager add/set` would), or takes it
 * out (`undefined`). The CRM state follows the guest's current power state.
 */
export const setHa = (
  cluster: SimCluster,
  vmid: number,
  state: HaRequest | undefined
): Either.Either<void, SimControlError> => {
  const g = cluster.guests.get(vmid)
  if (g === undefined) return Either.left(new SimControlError({ message: `no guest ${vmid}` }))
  g.ha = state === undefined ? undefined : { state, crm: g.running ? "started" : "stopped", stopCommand: undefined }
  return Either.void
}
