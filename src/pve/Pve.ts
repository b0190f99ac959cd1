/**
 * The PVE REST client: every call the agent makes to PVE, typed end to end. Reads may be
 * retried; mutations are sent once and answer a `MutationResult` — PVE replies either with a
 * task (UPID) or synchronously (`null`), and both are success paths (docs/architecture.md,
 * invariant 4).
 */
import { Context, type Duration, type Effect, Layer, type Option } from "effect"
import type {
  ClusterGuest,
  ClusterStatusEntry,
  GuestStatus,
  NodeInfo,
  Permissions,
  PveVersion,
  Snapshot
} from "../domain/Cluster.js"
import type { GuestRef } from "../domain/Guest.js"
import type { ConfigValue, GuestConfig, PendingEntry } from "../domain/GuestConfig.js"
import type { TaskFilter, TaskListEntry, TaskLog, TaskStatus } from "../domain/Task.js"
import type { UpidString } from "../domain/Upid.js"
import type { MutationResult } from "./MutationResult.js"
import type { PveConnection } from "./PveConnection.js"
import type { PveError, PveWaitError } from "./PveError.js"
import { make } from "./PveLive.js"

export { MutationResult } from "./MutationResult.js"

export type PowerAction = "start" | "stop" | "shutdown" | "reboot"

export interface PowerOptions {
  /** Seconds; PVE's own default applies when absent. */
  readonly timeout?: number
  /** shutdown only: hard-stop when the graceful shutdown times out. */
  readonly forceStop?: boolean
}

export interface ConfigChange {
  readonly set: Readonly<Record<string, ConfigValue>>
  readonly delete: ReadonlyArray<string>
  /** Refuse the write if the config changed since this digest was read. */
  readonly digest?: string
  /**
   * qemu only: `async` POSTs and gets a task (UPID, type qmconfig); `sync` PUTs and gets
   * `null`. lxc has only the synchronous PUT, so this is ignored for containers.
   */
  readonly mode?: "async" | "sync"
}

export interface SnapshotCreate {
  readonly name: string
  readonly description?: string
  /** qemu only: save RAM state. */
  readonly vmstate?: boolean
}

export interface WaitOptions {
  /** Give up (PveTimeout) once this much time has passed; the task itself keeps running. */
  readonly deadline: Duration.DurationInput
}

export interface PveShape {
  readonly version: Effect.Effect<PveVersion, PveError>
  readonly nodes: Effect.Effect<ReadonlyArray<NodeInfo>, PveError>
  /** GET /cluster/status: the cluster and its nodes; `local` marks the node that answered. */
  readonly clusterStatus: Effect.Effect<ReadonlyArray<ClusterStatusEntry>, PveError>
  /** Every guest of the cluster (GET /cluster/resources?type=vm). */
  readonly guests: Effect.Effect<ReadonlyArray<ClusterGuest>, PveError>
  readonly status: (guest: GuestRef) => Effect.Effect<GuestStatus, PveError>
  readonly power: (
    guest: GuestRef,
    action: PowerAction,
    options?: PowerOptions
  ) => Effect.Effect<MutationResult, PveError>
  /** Config with pending changes merged (PVE's default), or the live values with `current`. */
  readonly config: (guest: GuestRef, options?: { readonly current?: boolean }) => Effect.Effect<GuestConfig, PveError>
  readonly pending: (guest: GuestRef) => Effect.Effect<ReadonlyArray<PendingEntry>, PveError>
  readonly setConfig: (guest: GuestRef, change: ConfigChange) => Effect.Effect<MutationResult, PveError>
  /** Snapshots without PVE's synthetic `current` entry. */
  readonly snapshots: (guest: GuestRef) => Effect.Effect<ReadonlyArray<Snapshot>, PveError>
  readonly createSnapshot: (guest: GuestRef, snapshot: SnapshotCreate) => Effect.Effect<MutationResult, PveError>
  readonly rollbackSnapshot: (
    guest: GuestRef,
    name: string,
    options?: { readonly start?: boolean }
  ) => Effect.Effect<MutationResult, PveError>
  readonly deleteSnapshot: (
    guest: GuestRef,
    name: string,
    options?: { readonly force?: boolean }
  ) => Effect.Effect<MutationResult, PveError>
  readonly taskStatus: (upid: UpidString) => Effect.Effect<TaskStatus, PveError>
  readonly taskLog: (
    upid: UpidString,
    options?: { readonly start?: number; readonly limit?: number }
  ) => Effect.Effect<TaskLog, PveError>
  readonly tasks: (node: string, filter?: TaskFilter) => Effect.Effect<ReadonlyArray<TaskListEntry>, PveError>
  /** Effective privileges of the calling token (GET /access/permissions), optionally for one path. */
  readonly permissions: (path?: string) => Effect.Effect<Permissions, PveError>
  /**
   * Task calls go to the node named inside the UPID.
   * `waitTask` polls the task until it stops: fast at first, backing off to about 1 s. Succeeds with the
   * final status only on `OK` or `WARNINGS: N`; any other exit status is `PveTaskFailed`.
   */
  readonly waitTask: (upid: UpidString, options: WaitOptions) => Effect.Effect<TaskStatus, PveWaitError>
  /**
   * PVE's clock minus ours in milliseconds, from the `Date` header of the latest answer: a lower
   * bound of the true difference (ServerClock.ts). None before the first answer.
   */
  readonly clockSkew: Effect.Effect<Option.Option<number>>
  /** Requests this client has sent since it was built (all callers; a retried read counts twice). */
  readonly requestCount: Effect.Effect<number>
}

export class Pve extends Context.Tag("felhom/Pve")<Pve, PveShape>() {
  /** The HTTP client over undici, configured by `PveConnection`. */
  static readonly layer: Layer.Layer<Pve, never, PveConnection> = Layer.scoped(Pve, make)
}
