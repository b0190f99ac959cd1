/**
 * Observation: what the cluster looks like for one reconcile pass. GET /cluster/resources
 * lists every guest; each desired guest that exists is read three ways — status/current,
 * config (pending merged, PVE's default) and /pending (pve-api.md §4.1, §5.1, §5.5). The Pve
 * client bounds requests in flight (3, pveproxy's worker count), so the reads are issued in
 * parallel and queue there. Unmanaged guests are listed but never read.
 */
import { Duration, Effect, Option, Schedule, Schema } from "effect"
import type { ClusterGuest } from "../domain/Cluster.js"
import type { DesiredState } from "../domain/DesiredState.js"
import { GuestRef } from "../domain/Guest.js"
import { Pve } from "../pve/Pve.js"
import type { PveError } from "../pve/PveError.js"
import type { ObservedGuest } from "./plan.js"

/** Failures that may pass on their own; everything else (401, 403, 4xx, decode) is final. */
export const isTransient = (e: { readonly _tag: string }): boolean =>
  e._tag === "PveTransport" || e._tag === "PveTimeout" || e._tag === "PveConfigBusy" ||
  (e._tag === "PveApiError" && "status" in e && typeof e.status === "number" && e.status >= 500)

export interface ReadRetry {
  /** Retries after the first attempt (default 3). */
  readonly retries?: number
  /** First backoff delay, doubled each retry (default 200 ms). */
  readonly base?: Duration.DurationInput
}

/** Retries a read on transient errors only, with exponential backoff. Never for mutations. */
export const retryRead = (options: ReadRetry = {}) =>
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
 * One guest's three reads. A guest whose reads fail (it migrated or vanished between the list
 * and the read, or PVE keeps failing) is returned without status/config: plan() skips it
 * with a reason, and the next pass looks again.
 */
const readGuest = (pve: PveService, row: ClusterGuest, retry: ReadRetry): Effect.Effect<ObservedGuest> => {
  const ref = refOf(row)
  if (ref === undefined) return Effect.succeed({ guest: row })
  const r = retryRead(retry)
  return Effect.all(
    { status: r(pve.status(ref)), config: r(pve.config(ref)), pending: r(pve.pending(ref)) },
    { concurrency: "unbounded" }
  ).pipe(
    Effect.map((reads): ObservedGuest => ({ guest: row, ...reads })),
    Effect.catchAll((e) =>
      Effect.as(
        Effect.logWarning("guest not fully observed").pipe(Effect.annotateLogs({ vmid: row.vmid, error: e.message })),
        { guest: row }
      )
    )
  )
}

type PveService = Effect.Effect.Success<typeof Pve>

/** Every cluster guest; desired ones with status, config and pending. Fails only if the list fails. */
export const observe = (
  desired: DesiredState,
  retry: ReadRetry = {}
): Effect.Effect<ReadonlyArray<ObservedGuest>, PveError, Pve> =>
  Effect.gen(function*() {
    const pve = yield* Pve
    const rows = yield* retryRead(retry)(pve.guests)
    const wanted = new Set(Object.keys(desired.guests).map(Number))
    return yield* Effect.forEach(
      rows,
      (row) => (wanted.has(row.vmid) ? readGuest(pve, row, retry) : Effect.succeed<ObservedGuest>({ guest: row })),
      { concurrency: "unbounded" }
    )
  })
