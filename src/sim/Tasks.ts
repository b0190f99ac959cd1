/**
 * The task engine (pve-common `PVE::RESTEnvironment::fork_worker`, `PVE::UPID`): every async
 * operation gets a UPID at once and runs on a
 * timer for `taskDuration` ms. `begin` runs when the worker starts (PVE's checks: lock,
 * template, running, missing config) and may set a lock; `finish` runs at the end and is
 * where the guest changes. Exit status: "OK", "WARNINGS: N" or the error text (pve-common
 * `PVE::UPID::read_status`).
 *
 * Tasks that PVE runs inside `lock_config` take the guest's config flock (Flock.ts): `task` =
 * held from `begin` to the end, `steps` = taken for `begin` and again for `finish` (PVE's
 * snapshot operations lock the config only around their prepare and commit phases). A task
 * that cannot get the flock in time fails with "can't lock file … - got timeout".
 *
 * Faults: an injected failure is decided when the task is created and fails it before it
 * changes anything (no `begin`); warnings are added at the end; a stuck task stays running
 * (holding whatever flock it holds) until the faults are cleared.
 */
import { formatUpid, type Upid } from "../domain/Upid.js"
import { type ActiveFaults, consume, matchesTask } from "./Faults.js"
import { ConfigFlocks, lockTimeoutText } from "./Flock.js"
import type { GuestKind } from "./GuestState.js"
import type { Prng } from "./Prng.js"

export interface TaskRecord extends Upid {
  readonly upid: string
  status: "running" | "stopped"
  exitstatus: string | undefined
  endtime: number | undefined
  readonly log: Array<string>
}

export interface TaskOutcome {
  readonly error?: string
  readonly warnings?: number
  readonly log?: ReadonlyArray<string>
  /**
   * Runs after the flock is released and before the task ends: follow-up tasks start here. An
   * error text it returns fails the task.
   */
  readonly after?: () => string | undefined
}

export interface TaskFlock {
  readonly vmid: number
  readonly kind: GuestKind
  readonly hold: "task" | "steps"
}

export interface TaskBody {
  readonly flock?: TaskFlock
  /** Lines the worker prints first (e.g. "Requesting HA start for VM 100"). */
  readonly log?: ReadonlyArray<string>
  /** Runs at task start; an error string ends the task with that error (after the duration). */
  readonly begin?: () => string | undefined
  /** Runs at the end unless the task already failed. */
  readonly finish: () => TaskOutcome
}

export class TaskEngine {
  readonly byUpid = new Map<string, TaskRecord>()
  /** In creation order. */
  readonly all: Array<TaskRecord> = []
  readonly flocks: ConfigFlocks
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly held: Array<() => void> = []
  private readonly waiters = new Map<string, Array<(t: TaskRecord) => void>>()
  /** The flock release of each running task that holds one. */
  private readonly holding = new Map<string, () => void>()
  private readonly pstartBase: number
  private disposed = false

  constructor(
    private readonly prng: Prng,
    private readonly duration: () => number,
    private readonly faults: () => ActiveFaults,
    flockTimeout: () => number
  ) {
    this.pstartBase = 1_000_000 + prng.int(9_000_000)
    this.flocks = new ConfigFlocks(flockTimeout)
  }

  spawn(node: string, type: string, id: string, user: string, body: TaskBody): TaskRecord {
    const task = this.register(node, type, id, user, body.log ?? [])
    const fail = consume(this.faults().fail, id, type)
    if (fail !== undefined) {
      this.later(this.duration(), () => this.whenUnstuck(task, () => this.end(task, { error: fail.message })))
      return task
    }
    const flock = body.flock
    if (flock === undefined) this.start(task, body, undefined)
    else {
      this.flocks.acquire(
        flock.vmid,
        (release) => this.start(task, body, release),
        () => this.end(task, { error: lockTimeoutText(flock.kind, flock.vmid) })
      )
    }
    return task
  }

  /**
   * A task whose end its caller decides instead of a timer (a migration driven step by step from
   * the control API). No faults apply to it and it takes no flock; `end` stops it like any other
   * task (a second call does nothing).
   */
  open(node: string, type: string, id: string, user: string, log: ReadonlyArray<string>): {
    readonly task: TaskRecord
    readonly end: (outcome: TaskOutcome) => void
  } {
    const task = this.register(node, type, id, user, log)
    return { task, end: (outcome) => this.end(task, outcome) }
  }

  private register(node: string, type: string, id: string, user: string, log: ReadonlyArray<string>): TaskRecord {
    const now = Date.now()
    const pstart = this.pstartBase + Math.floor(now / 10) % 100_000_000
    const starttime = Math.floor(now / 1000)
    let parts: Upid
    let upid: string
    do {
      parts = { node, pid: 1000 + this.prng.int(4_000_000), pstart, starttime, type, id, user }
      upid = formatUpid(parts)
    } while (this.byUpid.has(upid))
    const task: TaskRecord = {
      upid,
      ...parts,
      status: "running",
      exitstatus: undefined,
      endtime: undefined,
      log: [...log]
    }
    this.byUpid.set(upid, task)
    this.all.push(task)
    return task
  }

  /** Runs `f` after `ms` unless the simulator stopped meanwhile. */
  later(ms: number, f: () => void): void {
    if (this.disposed) return
    const t = setTimeout(() => {
      this.timers.delete(t)
      f()
    }, ms)
    this.timers.add(t)
  }

  private start(task: TaskRecord, body: TaskBody, release: (() => void) | undefined): void {
    if (task.status === "stopped") return release?.()
    const early = body.begin?.()
    if (early !== undefined) {
      release?.()
      this.later(this.duration(), () => this.end(task, { error: early }))
      return
    }
    const steps = body.flock?.hold === "steps"
    if (steps) release?.()
    else if (release !== undefined) this.holding.set(task.upid, release)
    this.later(this.duration(), () =>
      this.whenUnstuck(task, () => {
        const flock = body.flock
        if (!steps || flock === undefined) return this.complete(task, body, release)
        this.flocks.acquire(flock.vmid, (again) =>
          this.complete(task, body, again), () =>
          this.end(task, { error: lockTimeoutText(flock.kind, flock.vmid) }))
      }))
  }

  /** A task matching a `stuckTasks` rule waits here until the faults change. */
  private whenUnstuck(task: TaskRecord, go: () => void): void {
    if (task.status === "stopped") return
    if (this.faults().stuck.some((r) => matchesTask(r, task.id, task.type))) {
      this.held.push(() => this.whenUnstuck(task, go))
      return
    }
    go()
  }

  private complete(task: TaskRecord, body: TaskBody, release: (() => void) | undefined): void {
    if (task.status === "stopped") return release?.()
    const outcome = body.finish()
    this.holding.delete(task.upid)
    release?.()
    const warn = outcome.error === undefined ? consume(this.faults().warn, task.id, task.type) : undefined
    const warnings = (outcome.warnings ?? 0) + (warn?.warnings ?? 0)
    const late = outcome.after?.()
    this.end(task, {
      ...outcome,
      ...(late === undefined ? {} : { error: late }),
      ...(warnings > 0 ? { warnings } : {}),
      log: [
        ...(outcome.log ?? []),
        ...(warn === undefined ? [] : Array.from({ length: warn.warnings }, () => "WARN: simulated warning"))
      ]
    })
  }

  private end(task: TaskRecord, outcome: TaskOutcome): void {
    if (task.status === "stopped") return
    task.log.push(...(outcome.log ?? []))
    if (outcome.error !== undefined) {
      task.log.push(`TASK ERROR: ${outcome.error}`)
      task.exitstatus = outcome.error.replace(/\n+$/, "").replace(/\n/g, " ")
    } else if (outcome.warnings !== undefined && outcome.warnings > 0) {
      task.log.push(`TASK WARNINGS: ${outcome.warnings}`)
      task.exitstatus = `WARNINGS: ${outcome.warnings}`
    } else {
      task.log.push("TASK OK")
      task.exitstatus = "OK"
    }
    task.status = "stopped"
    task.endtime = Math.floor(Date.now() / 1000)
    for (const w of this.waiters.get(task.upid) ?? []) w(task)
    this.waiters.delete(task.upid)
  }

  /**
   * Kills a running task as `PVE::RPCEnvironment::check_worker($upid, 1)` does: the worker dies
   * with "received interrupt" and its flock is released; its remaining steps never run.
   */
  interrupt(task: TaskRecord): void {
    if (task.status === "stopped") return
    const release = this.holding.get(task.upid)
    this.holding.delete(task.upid)
    this.end(task, { error: "received interrupt" })
    release?.()
  }

  /** Calls `done` once the task has stopped (at once if it already has). */
  whenEnded(task: TaskRecord, done: (t: TaskRecord) => void): void {
    if (task.status === "stopped") return done(task)
    const list = this.waiters.get(task.upid) ?? []
    list.push(done)
    this.waiters.set(task.upid, list)
  }

  /** Resolves when the task stops, or with the still-running task after `ms`. */
  waitFor(task: TaskRecord, ms: number): Promise<TaskRecord> {
    if (task.status === "stopped") return Promise.resolve(task)
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t)
        resolve(task)
      }, ms)
      this.timers.add(t)
      const list = this.waiters.get(task.upid) ?? []
      list.push((done) => {
        clearTimeout(t)
        this.timers.delete(t)
        resolve(done)
      })
      this.waiters.set(task.upid, list)
    })
  }

  /** Lets held (stuck) tasks continue; called when the faults change. */
  release(): void {
    const held = this.held.splice(0)
    for (const h of held) h()
  }

  dispose(): void {
    this.disposed = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    this.held.length = 0
    this.holding.clear()
    this.waiters.clear()
    this.flocks.dispose()
  }
}
