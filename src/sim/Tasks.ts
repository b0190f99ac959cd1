/**
 * The task engine (pve-api.md §6): every async operation gets a UPID at once and runs on a
 * timer for `taskDuration` ms. `begin` runs at task start (lock checks, lock set); `finish`
 * runs at the end and is where the guest changes. Exit status: "OK", "WARNINGS: N" or the
 * error text (§6.2). Faults can fail, warn or hold a task.
 */
import { formatUpid } from "../domain/Upid.js"
import { consume, matchesTask, type ActiveFaults } from "./Faults.js"
import type { Prng } from "./Prng.js"

export interface TaskRecord {
  readonly upid: string
  readonly node: string
  readonly pid: number
  readonly pstart: number
  readonly starttime: number
  readonly type: string
  readonly id: string
  readonly user: string
  status: "running" | "stopped"
  exitstatus: string | undefined
  endtime: number | undefined
  readonly log: Array<string>
}

export interface TaskOutcome {
  readonly error?: string
  readonly warnings?: number
  readonly log?: ReadonlyArray<string>
}

export interface TaskBody {
  /** Runs at task start; an error string ends the task with that error (after the duration). */
  readonly begin?: () => string | undefined
  /** Runs at the end unless the task already failed. */
  readonly finish: () => TaskOutcome
  /** Undo what `begin` did when an injected failure ends the task instead of `finish`. */
  readonly abort?: () => void
}

export class TaskEngine {
  readonly byUpid = new Map<string, TaskRecord>()
  /** In creation order. */
  readonly all: Array<TaskRecord> = []
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly held: Array<() => void> = []
  private readonly waiters = new Map<string, Array<(t: TaskRecord) => void>>()
  private readonly pstartBase: number

  constructor(
    private readonly prng: Prng,
    private readonly duration: () => number,
    private readonly faults: () => ActiveFaults
  ) {
    this.pstartBase = 1_000_000 + prng.int(9_000_000)
  }

  spawn(node: string, type: string, id: string, user: string, body: TaskBody): TaskRecord {
    const now = Date.now()
    let upid = ""
    let pid = 0
    const pstart = this.pstartBase + Math.floor(now / 10) % 100_000_000
    do {
      pid = 1000 + this.prng.int(4_000_000)
      upid = formatUpid({ node, pid, pstart, starttime: Math.floor(now / 1000), type, id, user })
    } while (this.byUpid.has(upid))
    const task: TaskRecord = {
      upid, node, pid, pstart, starttime: Math.floor(now / 1000), type, id, user,
      status: "running", exitstatus: undefined, endtime: undefined, log: []
    }
    this.byUpid.set(upid, task)
    this.all.push(task)
    const early = body.begin?.()
    this.schedule(() => this.run(task, body, early))
    return task
  }

  private schedule(f: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t)
      f()
    }, this.duration())
    this.timers.add(t)
  }

  private run(task: TaskRecord, body: TaskBody, early: string | undefined): void {
    if (early !== undefined) return this.end(task, { error: early })
    const f = this.faults()
    if (f.stuck.some((r) => matchesTask(r, task.id, task.type))) {
      this.held.push(() => this.run(task, body, early))
      return
    }
    const fail = consume(f.fail, task.id, task.type)
    if (fail !== undefined) {
      body.abort?.()
      return this.end(task, { error: fail.message })
    }
    const outcome = body.finish()
    const warn = outcome.error === undefined ? consume(f.warn, task.id, task.type) : undefined
    const warnings = (outcome.warnings ?? 0) + (warn?.warnings ?? 0)
    this.end(task, {
      ...outcome,
      ...(warnings > 0 ? { warnings } : {}),
      log: [...(outcome.log ?? []), ...(warn === undefined ? [] : Array.from({ length: warn.warnings }, () => "WARN: simulated warning"))]
    })
  }

  private end(task: TaskRecord, outcome: TaskOutcome): void {
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

  /** Lets held (stuck) tasks continue; called when the faults are cleared. */
  release(): void {
    const held = this.held.splice(0)
    for (const h of held) h()
  }

  dispose(): void {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    this.held.length = 0
  }
}
