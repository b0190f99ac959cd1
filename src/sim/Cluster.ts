/**
 * The simulated cluster: nodes, guests, tokens, tasks, the mutation log and the active
 * faults. Handlers and the control API both act on it. Invariant: a mutation is logged
 * exactly when a guest's state changed (a no-op or a failed request logs nothing).
 */
import { Data, Either } from "effect"
import type { TokenRecord } from "./Access.js"
import { activate, type ActiveFaults, noFaults, type SimFaults } from "./Faults.js"
import {
  digestOf,
  type GuestState,
  type HaRequest,
  type RunState,
  serializeConfig,
  type TagStyle,
  touched
} from "./GuestState.js"
import { type FinishOptions, Migrations, type SimMigration } from "./Migrate.js"
import { Prng } from "./Prng.js"
import {
  buildGuest,
  canonicalSeedValue,
  generateSeeds,
  type SeedContext,
  type SimGuestSeed,
  type SimTokenSeed
} from "./Seeds.js"
import { StatsPushes } from "./Stats.js"
import { TaskEngine } from "./Tasks.js"

export interface SimMutation {
  readonly seq: number
  /** ms epoch */
  readonly at: number
  readonly vmid: number
  readonly node: string
  /**
   * config | start | stop | shutdown | reboot | suspend | resume | snapshot-create |
   * snapshot-rollback | snapshot-delete | lock | unlock | edit | runstate | migrate-begin |
   * migrate-finish
   */
  readonly kind: string
  readonly params: Readonly<Record<string, unknown>>
  readonly upid?: string
  readonly user: string
}

export interface SimGuestView {
  readonly vmid: number
  readonly type: "qemu" | "lxc"
  readonly node: string
  readonly status: "running" | "stopped"
  /** qemu QMP status while running (`running`, `paused`, `suspended`); `stopped` otherwise. */
  readonly qmpstatus: RunState | "stopped"
  /** HA resource: requested state and CRM state; undefined when not configured. */
  readonly ha: { readonly state: HaRequest; readonly crm: string } | undefined
  readonly config: Readonly<Record<string, string>>
  readonly pending: Readonly<Record<string, string>>
  readonly pendingDelete: ReadonlyArray<string>
  readonly snapshots: Readonly<Record<string, Readonly<Record<string, string>>>>
  readonly configText: string
  readonly digest: string
}

export class SimControlError extends Data.TaggedError("SimControlError")<{ readonly message: string }> {}

export interface ClusterSettings {
  readonly seed: number
  readonly nodes: ReadonlyArray<string>
  readonly guests: ReadonlyArray<SimGuestSeed> | number
  readonly tokens: ReadonlyArray<SimTokenSeed>
  readonly taskDuration: number
  readonly statsDelay: number
  /** ms between simulated pvestatd pushes feeding /cluster/resources; 0 = always fresh. */
  readonly statsStaleness?: number
  readonly tagStyle: TagStyle
  /** ms a config write or task waits for a guest's config flock before "got timeout" (PVE: 10 000). */
  readonly flockTimeout?: number
  /** ms per simulated HA CRM/LRM round (PVE: ~10 000). */
  readonly haRound?: number
  /** The address every node's listener is on: the `ip` GET /cluster/status shows. Default 127.0.0.1. */
  readonly address?: string
}

export class SimCluster {
  prng: Prng
  /** The leaf certificate fingerprint shown as `ssl_fingerprint` in GET /nodes ("" over http). */
  fingerprint = ""
  readonly guests = new Map<number, GuestState>()
  readonly tokens = new Map<string, TokenRecord>()
  tasks: TaskEngine
  /** The lagging view /cluster/resources shows (pve-manager `PVE::Service::pvestatd`). */
  stats: StatsPushes
  private log: Array<SimMutation> = []
  private faultState: ActiveFaults = noFaults
  private readonly migrations = new Migrations(this)

  constructor(readonly settings: ClusterSettings) {
    this.prng = new Prng(settings.seed)
    this.tasks = this.newEngine()
    this.stats = new StatsPushes(settings.statsStaleness ?? 0, Date.now())
    this.populate()
  }

  get nodes(): ReadonlyArray<string> {
    return this.settings.nodes
  }
  get faults(): ActiveFaults {
    return this.faultState
  }
  get nodeIp(): string {
    return this.settings.address ?? "127.0.0.1"
  }

  private newEngine(): TaskEngine {
    return new TaskEngine(
      this.prng,
      () => this.settings.taskDuration,
      () => this.faultState,
      () => this.settings.flockTimeout ?? 10_000
    )
  }

  private populate(): void {
    for (const t of this.settings.tokens) {
      this.tokens.set(t.tokenid, {
        tokenid: t.tokenid,
        secret: t.secret,
        privsep: t.privsep ?? true,
        acls: t.privileges,
        userAcls: t.userPrivileges
      })
    }
    const seeds = typeof this.settings.guests === "number"
      ? generateSeeds(this.settings.guests, this.nodes, this.prng)
      : this.settings.guests
    // The initial guests exist from the first push on (the epoch), so they are never `unknown`.
    const added = this.insertGuests(seeds, this.stats.epoch)
    if (Either.isLeft(added)) this.seedError = added.left.message
  }

  /** Set when the initial seeds were invalid; startSimulator turns it into SimStartError. */
  seedError: string | undefined = undefined

  seedContext(): SeedContext {
    return {
      nodes: this.nodes,
      prng: this.prng,
      tagStyle: this.settings.tagStyle,
      newMac: () => this.newMac(),
      now: Date.now()
    }
  }

  /** A MAC with PVE's default datacenter prefix, BC:24:11 (pve-cluster `PVE::DataCenterConfig`). */
  newMac(): string {
    return `BC:24:11:${this.prng.hex(3).match(/../g)?.join(":") ?? "00:00:00"}`
  }

  /** Guests added later show `status: "unknown"` in /cluster/resources until the next stats push. */
  addGuests(seeds: ReadonlyArray<SimGuestSeed>): Either.Either<ReadonlyArray<number>, SimControlError> {
    return this.insertGuests(seeds, Date.now())
  }

  private insertGuests(
    seeds: ReadonlyArray<SimGuestSeed>,
    at: number
  ): Either.Either<ReadonlyArray<number>, SimControlError> {
    const ctx = this.seedContext()
    const built: Array<GuestState> = []
    for (const s of seeds) {
      if (this.guests.has(s.vmid) || built.some((g) => g.vmid === s.vmid)) {
        return Either.left(new SimControlError({ message: `vmid ${s.vmid} already exists` }))
      }
      const g = buildGuest(s, ctx)
      if (typeof g === "string") return Either.left(new SimControlError({ message: g }))
      built.push(g)
    }
    for (const g of built) {
      this.guests.set(g.vmid, g)
      this.stats.note(g, at)
    }
    return Either.right(built.map((g) => g.vmid))
  }

  /** Logs a change already applied to `g`; also the moment the stats push sees it change. */
  record(g: GuestState, kind: string, params: Readonly<Record<string, unknown>>, user: string, upid?: string): void {
    const at = Date.now()
    this.log.push({
      seq: this.log.length + 1,
      at,
      vmid: g.vmid,
      node: g.node,
      kind,
      params,
      user,
      ...(upid === undefined ? {} : { upid })
    })
    this.stats.note(g, at)
  }

  /** ms epoch of the last simulated stats push at or before `now`; undefined without staleness. */
  lastStatsPush(now: number = Date.now()): number | undefined {
    return this.stats.lastPush(now)
  }

  mutations(): ReadonlyArray<SimMutation> {
    return this.log
  }

  view(vmid: number): Either.Either<SimGuestView, SimControlError> {
    const g = this.guests.get(vmid)
    if (g === undefined) return Either.left(new SimControlError({ message: `no guest ${vmid}` }))
    return Either.right({
      vmid: g.vmid,
      type: g.kind,
      node: g.node,
      status: g.running ? "running" : "stopped",
      qmpstatus: g.running ? g.runState : "stopped",
      ha: g.ha === undefined ? undefined : { state: g.ha.state, crm: g.ha.crm },
      config: Object.fromEntries(g.config),
      pending: Object.fromEntries(g.pending),
      pendingDelete: [...g.pendingDelete.keys()],
      snapshots: Object.fromEntries([...g.snapshots].map(([n, m]) => [n, Object.fromEntries(m)])),
      configText: serializeConfig(g),
      digest: digestOf(g)
    })
  }

  /** Sets a lock as another actor would (e.g. a backup job): visible everywhere, logged. */
  setLock(vmid: number, lock: string): Either.Either<void, SimControlError> {
    const g = this.guests.get(vmid)
    if (g === undefined) return Either.left(new SimControlError({ message: `no guest ${vmid}` }))
    if (g.config.get("lock") === lock) return Either.void
    g.config.set("lock", lock)
    touched(g)
    this.record(g, "lock", { lock }, "root@pam")
    return Either.void
  }

  clearLock(vmid: number): Either.Either<void, SimControlError> {
    const g = this.guests.get(vmid)
    if (g === undefined) return Either.left(new SimControlError({ message: `no guest ${vmid}` }))
    if (!g.config.has("lock")) return Either.void
    g.config.delete("lock")
    touched(g)
    this.record(g, "unlock", {}, "root@pam")
    return Either.void
  }

  /** A concurrent edit by another user: changes the live config (and so the digest). */
  edit(
    vmid: number,
    change: { readonly set?: Record<string, string | number>; readonly delete?: ReadonlyArray<string> }
  ): Either.Either<string, SimControlError> {
    const g = this.guests.get(vmid)
    if (g === undefined) return Either.left(new SimControlError({ message: `no guest ${vmid}` }))
    const ctx = this.seedContext()
    for (const [k, raw] of Object.entries(change.set ?? {})) {
      const v = canonicalSeedValue(g.kind, k, raw, ctx)
      if (v === undefined) g.config.delete(k)
      else g.config.set(k, v)
    }
    for (const k of change.delete ?? []) g.config.delete(k)
    touched(g)
    this.record(g, "edit", { ...change }, "root@pam")
    return Either.right(digestOf(g))
  }

  /**
   * The guest changes its own run state, as a guest OS does when it suspends to RAM (QMP
   * `suspended`) — or an operator pauses it outside the API. Only for a running qemu guest.
   */
  setRunState(vmid: number, state: RunState): Either.Either<void, SimControlError> {
    const g = this.guests.get(vmid)
    if (g === undefined) return Either.left(new SimControlError({ message: `no guest ${vmid}` }))
    if (g.kind !== "qemu" || !g.running) {
      return Either.left(new SimControlError({ message: `guest ${vmid} is not a running qemu guest` }))
    }
    if (g.runState === state) return Either.void
    g.runState = state
    this.record(g, "runstate", { state }, "root@pam")
    return Either.void
  }

  /**
   * Puts a guest under HA with a requested state (as `ha-manager add/set` would), or takes it
   * out (`undefined`). The CRM state follows the guest's current power state.
   */
  setHa(vmid: number, state: HaRequest | undefined): Either.Either<void, SimControlError> {
    const g = this.guests.get(vmid)
    if (g === undefined) return Either.left(new SimControlError({ message: `no guest ${vmid}` }))
    g.ha = state === undefined ? undefined : { state, crm: g.running ? "started" : "stopped", stopCommand: undefined }
    return Either.void
  }

  /**
   * Starts migrating a guest to `target` (Migrate.ts): `lock: migrate`, its config flock held
   * and a `qmigrate`/`vzmigrate` task running on the source until `finishMigration`.
   */
  beginMigration(vmid: number, target: string): Either.Either<SimMigration, SimControlError> {
    return Either.mapLeft(this.migrations.begin(vmid, target), (message) => new SimControlError({ message }))
  }

  /** Moves the migrating guest's config to the target node, unlocks it and ends the task. */
  finishMigration(vmid: number, options?: FinishOptions): Either.Either<SimMigration, SimControlError> {
    return Either.mapLeft(this.migrations.finish(vmid, options), (message) => new SimControlError({ message }))
  }

  /** Both steps: the finish at once (`afterMs` 0, default) or `afterMs` later. */
  migrate(vmid: number, target: string, afterMs?: number): Either.Either<SimMigration, SimControlError> {
    return Either.mapLeft(this.migrations.migrate(vmid, target, afterMs), (message) => new SimControlError({ message }))
  }

  /** Migrations begun and not finished yet. */
  activeMigrations(): ReadonlyArray<SimMigration> {
    return this.migrations.active
  }

  setFaults(f: SimFaults): void {
    this.faultState = activate(f)
    this.tasks.release()
  }

  clearFaults(): void {
    this.faultState = noFaults
    this.tasks.release()
  }

  /** Back to the initial seeds: guests, tasks, log and faults; the PRNG restarts from the seed. */
  reset(): void {
    this.tasks.dispose()
    this.prng = new Prng(this.settings.seed)
    this.tasks = this.newEngine()
    this.stats = new StatsPushes(this.settings.statsStaleness ?? 0, Date.now())
    this.guests.clear()
    this.tokens.clear()
    this.log = []
    this.faultState = noFaults
    this.migrations.clear()
    this.populate()
  }

  dispose(): void {
    this.tasks.dispose()
  }
}
