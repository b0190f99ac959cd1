/**
 * Start-up recovery (design.md invariant 5): before readiness, every op the journal holds in
 * `intent` or `in-flight` is resolved against PVE, never guessed.
 *
 *   UPID known → task status: running → waitTask (deadline); OK / WARNINGS: N → done;
 *     an error exit → failed; "unexpected status" (a worker killed with the node), an
 *     unreadable log, or a task PVE no longer knows → re-observe the guest.
 *   no UPID → the node's task list (source=all, vmid, our token user, since intent − slack),
 *     kept to the action's task types: one → adopt its UPID and resolve as above;
 *     none → re-observe; several → needs-operator with the UPIDs.
 *     Actions without a task (lxc set-config, qemu sync set-config) go straight to re-observe.
 *   re-observe → the caller's post-state check: observed → done, else failed ("not applied",
 *     so the reconciler may plan it again).
 *
 * A PVE read that keeps failing after bounded retries leaves the op unfinished and reported:
 * the daemon refuses readiness rather than record a guess.
 */
import { Data, Duration, Effect, Schedule } from "effect"
import type { TaskListEntry } from "../domain/Task.js"
import { isSuccessfulExit } from "../domain/Task.js"
import { parseUpid, type UpidString } from "../domain/Upid.js"
import { Pve } from "../pve/Pve.js"
import { Journal } from "./Journal.js"
import type { JournalWriteError } from "./JournalError.js"
import type { OpDetail, OpRecord } from "./OpRecord.js"
import { taskTypesFor, type TaskTypes } from "./TaskTypes.js"

export type Resolution = "done" | "failed" | "needs-operator" | "unresolved"

export interface RecoveryOutcome {
  readonly opId: string
  readonly resolution: Resolution
  readonly detail: OpDetail
}

export interface RecoverySummary {
  readonly total: number
  readonly counts: Readonly<Record<Resolution, number>>
  readonly outcomes: ReadonlyArray<RecoveryOutcome>
}

export interface RecoverOptions<E, R> {
  /** Whether the guest now shows the op's intended post-state (supplied by the engine). */
  readonly checkPostState: (op: OpRecord) => Effect.Effect<boolean, E, R>
  /** Which PVE task types an action runs as; defaults to TaskTypes.taskTypesFor. */
  readonly taskTypes?: (op: OpRecord) => TaskTypes | undefined
  /** How long to wait for a task still running; default 10 minutes. */
  readonly waitDeadline?: Duration.DurationInput
  /** Tolerance before the intent time when searching the task list; default 2 minutes. */
  readonly sinceSlack?: Duration.DurationInput
  /** Retries of each failed PVE read (exponential backoff from `retryBase`); default 4 × 500 ms. */
  readonly readRetries?: number
  readonly retryBase?: Duration.DurationInput
  /**
   * Says (with a reason) when a post-state check failed in a way no retry can change — an
   * action the checker does not know, a params record it cannot read. Such an op is flagged
   * for the operator: left "unresolved", it would hold the daemon's readiness forever.
   */
  readonly undecidable?: (error: E) => string | undefined
}

type Verdict = Data.TaggedEnum<{
  Done: { readonly detail: OpDetail }
  Failed: { readonly detail: OpDetail }
  Flag: { readonly detail: OpDetail }
}>
const Verdict = Data.taggedEnum<Verdict>()

/** A PVE read (or post-state check) failed even after retries: the op stays unfinished. */
class ReadFailed extends Data.TaggedError("ReadFailed")<{ readonly detail: OpDetail }> {}

/** Exit statuses that say nothing about the outcome (pve-api.md §6.2). */
const isUnknownExit = (exitstatus: string): boolean =>
  exitstatus === "unexpected status" || exitstatus.startsWith("unable to get last line from task log")

const describeError = (what: string, e: unknown): OpDetail => {
  const tagged = typeof e === "object" && e !== null && "_tag" in e && typeof e._tag === "string" ? e._tag : undefined
  const message = e instanceof Error ? e.message : String(e)
  return tagged === undefined ? { message: `${what}: ${message}` } : { message: `${what}: ${message}`, errorTag: tagged }
}

/** Our own task for this op: the UPID names the guest and exactly our token user. */
const belongsTo = (op: OpRecord, types: ReadonlyArray<string>, since: number) => (t: TaskListEntry) => {
  const parsed = parseUpid(t.upid)
  return parsed._tag === "Right" && types.includes(parsed.right.type) && parsed.right.id === String(op.vmid) &&
    parsed.right.user === op.tokenUser && parsed.right.starttime >= since
}

export const recover = <E, R>(
  options: RecoverOptions<E, R>
): Effect.Effect<RecoverySummary, JournalWriteError, Journal | Pve | R> =>
  Effect.gen(function*() {
    const journal = yield* Journal
    const pve = yield* Pve
    const deadline = Duration.decode(options.waitDeadline ?? Duration.minutes(10))
    const slackSeconds = Math.ceil(Duration.toSeconds(options.sinceSlack ?? Duration.minutes(2)))
    const taskTypes = options.taskTypes ?? taskTypesFor
    const retry = Schedule.exponential(options.retryBase ?? Duration.millis(500)).pipe(
      Schedule.intersect(Schedule.recurs(options.readRetries ?? 4))
    )

    /** A read with bounded retries; its last failure becomes ReadFailed. */
    const read = <A, E1>(what: string, effect: Effect.Effect<A, E1, R>) =>
      effect.pipe(
        Effect.retry(retry),
        Effect.mapError((e) => new ReadFailed({ detail: describeError(what, e) }))
      )

    const undecidable = (e: E): string | undefined => options.undecidable?.(e)

    const reobserve = (op: OpRecord, why: string) =>
      options.checkPostState(op).pipe(
        Effect.retry({ schedule: retry, while: (e) => undecidable(e) === undefined }),
        Effect.map((applied) =>
          applied
            ? Verdict.Done({ detail: { message: `${why}: applied` } })
            : Verdict.Failed({ detail: { message: `${why}: not applied`, errorTag: "NotApplied" } })),
        Effect.catchAll((e) => {
          const reason = undecidable(e)
          return reason === undefined
            ? Effect.fail(new ReadFailed({ detail: describeError("post-state check", e) }))
            : Effect.succeed(Verdict.Flag({ detail: { message: `${why}; cannot tell whether it was applied: ${reason}` } }))
        })
      )

    const fromExit = (op: OpRecord, upid: UpidString, exitstatus: string) =>
      isSuccessfulExit(exitstatus)
        ? Effect.succeed(Verdict.Done({ detail: { message: "task finished", exitstatus, upids: [upid] } }))
        : isUnknownExit(exitstatus)
        ? reobserve(op, `task ${upid} ended with "${exitstatus}"`)
        : Effect.succeed(Verdict.Failed({ detail: { message: "task failed", exitstatus, upids: [upid], errorTag: "PveTaskFailed" } }))

    const waitRunning = (op: OpRecord, upid: UpidString) =>
      pve.waitTask(upid, { deadline }).pipe(
        Effect.map((status) => status.exitstatus ?? "OK"),
        Effect.catchTag("PveTaskFailed", (e) => Effect.succeed(e.exitstatus)),
        // Past the deadline the task is still running: retrying would only wait longer.
        Effect.retry({ schedule: retry, while: (e) => e._tag !== "PveTimeout" }),
        Effect.mapError((e) =>
          new ReadFailed({
            detail: e._tag === "PveTimeout"
              ? { message: `task ${upid} still running after ${Duration.format(deadline)}`, upids: [upid] }
              : describeError("wait for task", e)
          })
        ),
        Effect.flatMap((exitstatus) => fromExit(op, upid, exitstatus))
      )

    const byUpid = (op: OpRecord, upid: UpidString) =>
      Effect.gen(function*() {
        const status = yield* pve.taskStatus(upid).pipe(
          // "no such task" (400) / 404: PVE no longer knows the task; the guest is the only witness left.
          Effect.map((s) => ({ known: true as const, status: s })),
          Effect.catchTags({
            PveNotFound: () => Effect.succeed({ known: false as const }),
            PveParameterError: () => Effect.succeed({ known: false as const })
          }),
          (e) => read("task status", e)
        )
        if (!status.known) return yield* reobserve(op, `task ${upid} unknown to PVE`)
        if (status.status.status === "running") return yield* waitRunning(op, upid)
        return yield* fromExit(op, upid, status.status.exitstatus ?? "unexpected status")
      })

    const bySearch = (op: OpRecord) =>
      Effect.gen(function*() {
        const mapping = taskTypes(op)
        if (mapping === undefined) {
          return Verdict.Flag({ detail: { message: `no task type known for action ${op.action}; cannot tell whether it ran` } })
        }
        if (mapping.types.length === 0) return yield* reobserve(op, "no task for this action")
        const since = Math.floor(op.intentAt / 1000) - slackSeconds
        const rows = yield* read(
          "task list",
          pve.tasks(op.node, { source: "all", vmid: op.vmid, userfilter: op.tokenUser, since, limit: 1000 })
        )
        // source=all may list a task twice while it moves from active to archive.
        const found = [...new Set(rows.filter(belongsTo(op, mapping.types, since)).map((t) => t.upid))]
        // A guest written several times within the search window shows several of our tasks;
        // those the journal already assigns to other ops are theirs, not candidates for this one.
        const owners = yield* read("journal UPIDs", journal.upidOwners(found))
        const upids = found.filter((upid) => {
          const owner = owners.get(upid)
          return owner === undefined || owner === op.opId
        })
        const [only, ...rest] = upids
        if (only === undefined) return yield* reobserve(op, "no task found")
        if (rest.length > 0) {
          return Verdict.Flag({ detail: { message: `${upids.length} matching tasks; cannot tell which is ours`, upids } })
        }
        yield* journal.recordUpid(op.opId, only)
        return yield* byUpid(op, only)
      })

    const resolve = (op: OpRecord) =>
      (op.upid === null ? bySearch(op) : byUpid(op, op.upid)).pipe(
        Effect.flatMap((verdict): Effect.Effect<RecoveryOutcome, JournalWriteError> =>
          Verdict.$match(verdict, {
            Done: ({ detail }) => Effect.as(journal.finish(op.opId, detail), { opId: op.opId, resolution: "done" as const, detail }),
            Failed: ({ detail }) => Effect.as(journal.fail(op.opId, detail), { opId: op.opId, resolution: "failed" as const, detail }),
            Flag: ({ detail }) =>
              Effect.as(journal.flag(op.opId, detail), { opId: op.opId, resolution: "needs-operator" as const, detail })
          })
        ),
        Effect.catchTag("ReadFailed", ({ detail }) =>
          Effect.succeed<RecoveryOutcome>({ opId: op.opId, resolution: "unresolved", detail })),
        Effect.tap((o) => Effect.logInfo("recovered op").pipe(
          Effect.annotateLogs({ opId: o.opId, resolution: o.resolution, detail: o.detail.message })
        ))
      )

    const ops = yield* journal.unfinished
    const outcomes = yield* Effect.forEach(ops, resolve)
    const counts: Record<Resolution, number> = { "done": 0, "failed": 0, "needs-operator": 0, "unresolved": 0 }
    for (const o of outcomes) counts[o.resolution] += 1
    return { total: ops.length, counts, outcomes }
  })
