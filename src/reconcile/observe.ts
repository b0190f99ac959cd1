/**
 * Observation: what the cluster looks like for one reconcile pass. GET /cluster/resources
 * lists every guest (with its power state, possibly stale); each desired guest that exists is
 * read once, GET /pending (pve-guest-common `PVE::GuestHelpers::config_with_pending_array`),
 * from which the config PVE's default GET config would answer (pending merged, as
 * `PVE::AbstractConfig::load_current_config` does) is derived; status/current is read only where the
 * list's status would lead to a power action. The Pve client bounds requests in flight (3,
 * pveproxy's worker count), so the reads are issued in parallel and queue there. Unmanaged
 * guests are listed but never read.
 */
import { Duration, Effect, Option, Schedule, Schema } from "effect"
import type { ClusterGuest, GuestStatus } from "../domain/Cluster.js"
import type { DesiredState } from "../domain/DesiredState.js"
import { GuestRef } from "../domain/Guest.js"
import { configFromPending } from "../domain/GuestConfig.js"
import { Pve } from "../pve/Pve.js"
import { isTransient, type PveError } from "../pve/PveError.js"
import { type ObservedGuest, plan } from "./plan.js"

export interface ReadRetry {
  /** Retries after the first attempt (default 3). */
  readonly retries?: number
  /** First backoff delay, doubled each retry (default 200 ms). */
  readonly base?: Duration.DurationInput
}

/** Retries a read on transient errors only, with exponential backoff. Never for mutations. */
export const retryRead =
  (options: ReadRetry = {}) =>
  <A, E extends { readonly _tag: string }, R>(read: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.retry(read, {
      schedule: Schedule.exponential(options.base ?? Duration.millis(200)).pipe(
        Schedule.intersect(Schedule.recurs(options.retries ?? 3))
      ),
      while: isTransient
    })

// A row whose node name PVE would never produce is left unread: plan() then skips it as
// "not fully observed" instead of guessing.
const decodeRef = Schema.decodeUnknownOption(GuestRef)
const refOf = (row: ClusterGuest): GuestRef | undefined =>
  Option.getOrUndefined(decodeRef({ vmid: row.vmid, node: row.node, type: row.type }))

/**
 * The power state the /cluster/resources row claims, as a status/current answer. Only
 * `running`/`stopped` are taken; anything else (`unknown` before the first stats push, a qemu
 * run state such as `paused`) is not a basis for planning and is read fresh.
 */
const statusFromRow = (row: ClusterGuest): GuestStatus | undefined =>
  row.status === "running" || row.status === "stopped"
    ? { status: row.status, ...(row.lock === undefined ? {} : { lock: row.lock }) }
    : undefined

const notObserved = (row: ClusterGuest, e: { readonly message: string }): Effect.Effect<ObservedGuest> =>
  Effect.as(
    Effect.logWarning("guest not fully observed").pipe(Effect.annotateLogs({ vmid: row.vmid, error: e.message })),
    { guest: row }
  )

/**
 * One guest's read: GET /pending only. The config (pending merged, with its digest) is derived
 * from its rows (configFromPending) and the power state is the list's, possibly stale: observe
 * re-reads status/current for any guest whose plan then has a power action. A row whose status
 * says nothing usable gets status/current at once. A guest whose reads fail (it migrated or
 * vanished between the list and the read, or PVE keeps failing) is returned without
 * status/config: plan() skips it with a reason, and the next pass looks again.
 */
const readGuest = (pve: PveService, row: ClusterGuest, retry: ReadRetry): Effect.Effect<ObservedGuest> => {
  const ref = refOf(row)
  if (ref === undefined) return Effect.succeed({ guest: row })
  const r = retryRead(retry)
  const listed = statusFromRow(row)
  return Effect.all(
    { pending: r(pve.pending(ref)), status: listed === undefined ? r(pve.status(ref)) : Effect.succeed(listed) },
    { concurrency: "unbounded" }
  ).pipe(
    Effect.map(({ pending, status }): ObservedGuest => {
      const config = configFromPending(pending)
      return { guest: row, status, pending, ...(config === undefined ? {} : { config }) }
    }),
    Effect.catchAll((e) => notObserved(row, e))
  )
}

/** status/current for a guest planned with the list's status; on failure it is not observed. */
const refreshStatus = (pve: PveService, o: ObservedGuest, retry: ReadRetry): Effect.Effect<ObservedGuest> => {
  const ref = refOf(o.guest)
  if (ref === undefined) return Effect.succeed({ guest: o.guest })
  return retryRead(retry)(pve.status(ref)).pipe(
    Effect.map((status): ObservedGuest => ({ ...o, status })),
    Effect.catchAll((e) => notObserved(o.guest, e))
  )
}

type PveService = Effect.Effect.Success<typeof Pve>

/**
 * Every cluster guest; desired ones with pending, config (derived from pending) and status —
 * with `node`, only the desired ones on that node (NodeScope.ts); the others are listed unread.
 * A converged pass costs 1 + N calls (the list, then /pending per desired guest). The list's
 * status may be seconds stale (pve-manager `PVE::Service::pvestatd` pushes it every ~10 s), so a
 * guest whose plan on it has a power action
 * (Start/Stop) gets status/current read fresh, and the caller's plan then runs on that: a stale
 * row never causes a wrong or redundant power action. Fails only if the list fails.
 */
export const observe = (
  desired: DesiredState,
  retry: ReadRetry = {},
  node?: string
): Effect.Effect<ReadonlyArray<ObservedGuest>, PveError, Pve> =>
  Effect.gen(function*() {
    const pve = yield* Pve
    const rows = yield* retryRead(retry)(pve.guests)
    const wanted = new Set(Object.keys(desired.guests).map(Number))
    // A guest on another node is that node's agent's: listed, never read (node scope).
    const ours = (row: ClusterGuest) => wanted.has(row.vmid) && (node === undefined || row.node === node)
    const first = yield* Effect.forEach(
      rows,
      (row) => (ours(row) ? readGuest(pve, row, retry) : Effect.succeed<ObservedGuest>({ guest: row })),
      { concurrency: "unbounded" }
    )
    // Only power actions depend on status; ctx/shutdownTimeout do not change which guests get one.
    const powered = new Set(
      plan(desired, first, node === undefined ? {} : { node }).actions
        .filter((a) => a._tag === "Start" || a._tag === "Stop").map((a) => a.guest.vmid)
    )
    if (powered.size === 0) return first
    return yield* Effect.forEach(
      first,
      (o) => (powered.has(o.guest.vmid) ? refreshStatus(pve, o, retry) : Effect.succeed(o)),
      { concurrency: "unbounded" }
    )
  })
