/**
 * Fault injection settings (docs/simulator.md): latency, 5xx dice, dropped
 * connections before/after a mutation, failing/warning/stuck tasks. Dice come from the
 * cluster's seeded PRNG so a faulty run is reproducible.
 */
import { Schema } from "effect"

const TaskMatch = {
  vmid: Schema.optional(Schema.Number),
  /** Task type, e.g. `qmstart`. */
  type: Schema.optional(Schema.String)
}

export const SimFaults = Schema.Struct({
  latencyMs: Schema.optional(Schema.Number),
  /** Regex on the API path (after /api2/json); latency/errors/drops apply only to matches. */
  pathPattern: Schema.optional(Schema.String),
  errorRate: Schema.optional(Schema.Number),
  errorStatus: Schema.optional(Schema.Number),
  /**
   * Mutations that PVE applies and then answers with `errorStatus` (default 500): a die after
   * the write, or a 5xx from between pveproxy and pvedaemon. The client cannot tell this from
   * a refusal, which is why an error answer to a mutation is resolved by observing the guest.
   */
  errorAfterRate: Schema.optional(Schema.Number),
  dropBeforeRate: Schema.optional(Schema.Number),
  dropAfterRate: Schema.optional(Schema.Number),
  /**
   * Tasks that fail with `message` before changing anything (decided when the task is created,
   * so no lock is set and no guest changes; still after the task duration, and after being
   * held if also stuck).
   */
  failTasks: Schema.optional(
    Schema.Array(Schema.Struct({ ...TaskMatch, message: Schema.String, count: Schema.optional(Schema.Number) }))
  ),
  warnTasks: Schema.optional(
    Schema.Array(
      Schema.Struct({ ...TaskMatch, warnings: Schema.optional(Schema.Number), count: Schema.optional(Schema.Number) })
    )
  ),
  /** Tasks that stay `running` until the faults are cleared (then they finish normally). */
  stuckTasks: Schema.optional(Schema.Array(Schema.Struct(TaskMatch)))
})
export type SimFaults = typeof SimFaults.Type

export interface TaskRule {
  readonly vmid?: number | undefined
  readonly type?: string | undefined
  remaining: number
  readonly message: string
  readonly warnings: number
}

/** The mutable, consumable form the engine uses (counts go down as rules fire). */
export interface ActiveFaults {
  readonly http: SimFaults
  readonly pathRe: RegExp | undefined
  readonly fail: Array<TaskRule>
  readonly warn: Array<TaskRule>
  readonly stuck: ReadonlyArray<{ readonly vmid?: number | undefined; readonly type?: string | undefined }>
}

export const noFaults: ActiveFaults = { http: {}, pathRe: undefined, fail: [], warn: [], stuck: [] }

export const activate = (f: SimFaults): ActiveFaults => ({
  http: f,
  pathRe: f.pathPattern === undefined ? undefined : new RegExp(f.pathPattern),
  fail: (f.failTasks ?? []).map((r) => ({
    vmid: r.vmid,
    type: r.type,
    remaining: r.count ?? Infinity,
    message: r.message,
    warnings: 0
  })),
  warn: (f.warnTasks ?? []).map((r) => ({
    vmid: r.vmid,
    type: r.type,
    remaining: r.count ?? Infinity,
    message: "",
    warnings: r.warnings ?? 1
  })),
  stuck: f.stuckTasks ?? []
})

export const matchesTask = (
  rule: { readonly vmid?: number | undefined; readonly type?: string | undefined },
  vmid: string,
  type: string
): boolean => (rule.vmid === undefined || String(rule.vmid) === vmid) && (rule.type === undefined || rule.type === type)

/** Takes one firing of the first matching rule, if any. */
export const consume = (rules: Array<TaskRule>, vmid: string, type: string): TaskRule | undefined => {
  const r = rules.find((x) => x.remaining > 0 && matchesTask(x, vmid, type))
  if (r !== undefined) r.remaining -= 1
  return r
}
