/**
 * The simulated cluster: nodes, guests, tokens, tasks, the mutation log and the active
 * faults. Handlers and the control API both act on it. Invariant: a mutation is logged
 * exactly when a guest's state changed (a no-op or a failed request logs nothing).
 */
import { Either } from "effect"
import type { TokenRecord } from "./Access.js"
import { SimControlError } from "./ControlError.js"
import { activate, type ActiveFaults, noFaults, type SimFaults } from "./Faults.js"
import type { GuestState, HaRequest, RunState, TagStyle } from "./GuestState.js"
import { type SimGuestView, viewOf } from "./GuestView.js"
import { type FinishOptions, Migrations, type SimMigration } from "./Migrate.js"
import * as Outside from "./OutsideChanges.js"
import { Prng } from "./Prng.js"
import { buildGuest, generateSeeds, type SeedContext, type SimGuestSeed, type SimTokenSeed } from "./Seeds.js"
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
    return Either.right(viewOf(g))
  }

  // Other actors' changes, staged through the control API or by the demo (OutsideChanges.ts).
  setLock(vmid: number, lock: string): Either.Either<void, SimControlError> {
    return Outside.setLock(this, vmid, lock)
  }
  clearLock(vmid: number): Either.Either<void, SimControlError> {
    return Outside.clearLock(this, vmid)
  }
  edit(
    vmid: number,
    change: { readonly set?: Record<string, string | number>; readonly delete?: ReadonlyArray<string> }
  ): Either.Either<string, SimControlError> {
    return Outside.edit(this, vmid, change)
  }
  setRunState(vmid: number, state: RunState): Either.Either<void, SimControlError> {
    return Outside.setRunState(this, vmid, state)
  }
  setHa(vmid: number, state: HaRequest | undefined): Either.Either<void, SimControlError> {
    return Outside.setHa(this, vmid, state)
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
