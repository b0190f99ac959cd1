/**
 * Resolving ops whose outcome is not known (docs/architecture.md, invariant 5): at start-up, every op the
 * journal holds in `intent` or `in-flight`; in the engine, one op whose call may or may not have
 * reached PVE. Never guessed:
 *
 *   UPID known → task status: running → waitTask (deadline); OK / WARNINGS: N → done;
 *     an error exit → failed; "unexpected status" (a worker killed with the node), an
 *     unreadable log, or a task PVE no longer knows → re-observe the guest.
 *   no UPID → the node's task list (source=all, vmid, our token user), kept to tasks that can
 *     be ours: of the action's types, started no earlier than the op's intent by PVE's clock
 *     (our intent time plus the skew the `Date` header shows, a bound that never excludes our
 *     own task), and not recorded for any other op. One → adopt it, resolve it as above, and
 *     count it as done only if the guest shows the change (an adopted task is an inference;
 *     the guest is the witness); none → re-observe; several → needs-operator with the UPIDs.
 *     Actions without a task (lxc set-config, qemu sync set-config) go straight to re-observe.
 *   re-observe → the caller's post-state check: shows the change → done ("confirmed by
 *     observation"), absent → failed ("not applied", so the reconciler may plan it again),
 *     undecidable → needs-operator with the reason.
 *
 * A PVE read that keeps failing after bounded retries leaves the op unfinished and reported:
 * the daemon refuses readiness rather than record a guess.
 */
import { Data, Duration, Effect, Option, Schedule } from "effect"
import type { TaskListEntry } from "../domain/Task.js"
import { isSuccessfulExit } from "../domain/Task.js"
import { parseUpid, type UpidString } from "../domain/Upid.js"
import { Pve } from "../pve/Pve.js"
import { Journal } from "./Journal.js"
import type { JournalWriteError } from "./JournalError.js"
import type { OpDetail, OpRecord } from "./OpRecord.js"
import { type TaskTypes, taskTypesFor } from "./TaskTypes.js"

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

/** Exit statuses that say nothing about the outcome (pve-common `PVE::UPID::read_status`). */
const isUnknownExit = (exitstatus: string): boolean =>
  exitstatus === "unexpected status" || exitstatus.startsWith("unable to get last line from task log")

const describeError = (what: string, e: unknown): OpDetail => {
  const tagged = typeof e === "object" && e !== null && "_tag" in e && typeof e._tag === "string" ? e._tag : undefined
  const message = e instanceof Error ? e.message : String(e)
  return tagged === undefined
    ? { message: `${what}: ${message}` }
    : { message: `${what}: ${message}`, errorTag: tagged }
}

/**
 * A task that can be this op's: the UPID names the guest, one of the action's task types,
 * exactly our token user, and a start no earlier than `since` (PVE's clock, seconds).
 */
const canBeOurs = (op: OpRecord, types: ReadonlyArray<string>, since: number) => (t: TaskListEntry) => {
  const parsed = parseUpid(t.upid)
  return parsed._tag === "Right" && types.includes(parsed.right.type) && parsed.right.id === String(op.vmid) &&
    parsed.right.user === op.tokenUser && parsed.right.starttime >= since
}

/** Resolves every op the journal holds unfinished (start-up recovery). */
export const recover = <E, R>(
  options: RecoverOptions<E, R>
): Effect.Effect<RecoverySummary, JournalWriteError, Journal | Pve | R> =>
  Effect.flatMap(Journal, (journal) => Effect.flatMap(journal.unfinished, (ops) => resolveOps(ops, options)))

/** Resolves these ops against PVE, in order, and journals each verdict. */
export const resolveOps = <E, R>(
  ops: ReadonlyArray<OpRecord>,
  options: RecoverOptions<E, R>
): Effect.Effect<RecoverySummary, JournalWriteError, Journal | Pve | R> =>
  Effect.gen(function*() {
    const journal = yield* Journal
    const pve = yield* Pve
    const deadline = Duration.decode(options.waitDeadline ?? Duration.minutes(10))
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
            ? Verdict.Done({ detail: { message: `${why}: done (confirmed by observation)` } })
            : Verdict.Failed({ detail: { message: `${why}: not applied`, errorTag: "NotApplied" } })
        ),
        Effect.catchAll((e) => {
          const reason = undecidable(e)
          return reason === undefined
            ? Effect.fail(new ReadFailed({ detail: describeError("post-state check", e) }))
            : Effect.succeed(
              Verdict.Flag({ detail: { message: `${why}; cannot tell whether it was applied: ${reason}` } })
            )
        })
      )

    const fromExit = (op: OpRecord, upid: UpidString, exitstatus: string) =>
      isSuccessfulExit(exitstatus)
        ? Effect.succeed(Verdict.Done({ detail: { message: "task finished", exitstatus, upids: [upid] } }))
        : isUnknownExit(exitstatus)
        ? reobserve(op, `task ${upid} ended with "${exitstatus}"`)
        : Effect.succeed(
          Verdict.Failed({ detail: { message: "task failed", exitstatus, upids: [upid], errorTag: "PveTaskFailed" } })
        )

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

    /**
     * The intent time on PVE's clock, in whole seconds: a lower bound of when our request can
     * have reached PVE. Without a `Date` sample (no answer carried one) our own clock stands in.
     */
    const sinceOnPveClock = (op: OpRecord) =>
      Effect.map(pve.clockSkew, (skew) => Math.floor((op.intentAt + Option.getOrElse(skew, () => 0)) / 1000))

    /** An adopted task is ours by inference only: done needs the guest to show the change too. */
    const confirmAdopted = (op: OpRecord, upid: UpidString, verdict: Verdict) =>
      verdict._tag === "Done"
        ? reobserve(op, `task ${upid} (found in PVE's task list) ended ${verdict.detail.exitstatus ?? "OK"}`).pipe(
          Effect.map((v) => (v._tag === "Done"
            ? Verdict.Done({ detail: { ...v.detail, exitstatus: verdict.detail.exitstatus, upids: [upid] } })
            : v)
          )
        )
        : Effect.succeed(verdict)

    const bySearch = (op: OpRecord) =>
      Effect.gen(function*() {
        const mapping = taskTypes(op)
        if (mapping === undefined) {
          return Verdict.Flag({
            detail: { message: `no task type known for action ${op.action}; cannot tell whether it ran` }
          })
        }
        if (mapping.types.length === 0) return yield* reobserve(op, "no task for this action")
        // PVE's own `since` filter only narrows the answer: with no skew sample yet it is kept an
        // hour wide so that a PVE clock behind ours cannot hide our task; the bound that decides
        // is applied below, with the sample the list's own answer brings.
        const wide = Option.match(yield* pve.clockSkew, {
          onNone: () => Math.floor(op.intentAt / 1000) - 3600,
          onSome: (skew) => Math.floor((op.intentAt + skew) / 1000) - 1
        })
        const rows = yield* read(
          "task list",
          pve.tasks(op.node, { source: "all", vmid: op.vmid, userfilter: op.tokenUser, since: wide, limit: 1000 })
        )
        // Read after the list: the list's own answer carried a fresh Date sample.
        const since = yield* sinceOnPveClock(op)
        // source=all may list a task twice while it moves from active to archive.
        const found = [...new Set(rows.filter(canBeOurs(op, mapping.types, since)).map((t) => t.upid))]
        // A task the journal records for another op (any attempt) is that op's, never this one's.
        const owners = yield* read("journal UPIDs", journal.upidOwners(found))
        const upids = found.filter((upid) => {
          const owner = owners.get(upid)
          return owner === undefined || owner === op.opId
        })
        const [only, ...rest] = upids
        if (only === undefined) return yield* reobserve(op, "no task of ours found")
        if (rest.length > 0) {
          return Verdict.Flag({
            detail: { message: `${upids.length} matching tasks; cannot tell which is ours`, upids }
          })
        }
        const verdict = yield* byUpid(op, only)
        const confirmed = yield* confirmAdopted(op, only, verdict)
        // A task that ended OK while the guest lacks the change was not ours: never record it
        // as this op's (it would also hide it from the search of the op it belongs to).
        if (!(verdict._tag === "Done" && confirmed._tag === "Failed")) yield* journal.recordUpid(op.opId, only)
        return confirmed
      })

    const resolve = (op: OpRecord) =>
      (op.upid === null ? bySearch(op) : byUpid(op, op.upid)).pipe(
        Effect.flatMap((verdict): Effect.Effect<RecoveryOutcome, JournalWriteError> =>
          Verdict.$match(verdict, {
            Done: ({ detail }) =>
              Effect.as(journal.finish(op.opId, detail), { opId: op.opId, resolution: "done" as const, detail }),
            Failed: ({ detail }) =>
              Effect.as(journal.fail(op.opId, detail), { opId: op.opId, resolution: "failed" as const, detail }),
            Flag: ({ detail }) =>
              Effect.as(journal.flag(op.opId, detail), { opId: op.opId, resolution: "needs-operator" as const, detail })
          })
        ),
        Effect.catchTag(
          "ReadFailed",
          ({ detail }) => Effect.succeed<RecoveryOutcome>({ opId: op.opId, resolution: "unresolved", detail })
        ),
        Effect.tap((o) =>
          Effect.logInfo("recovered op").pipe(
            Effect.annotateLogs({ opId: o.opId, resolution: o.resolution, detail: o.detail.message })
          )
        )
      )

    const outcomes = yield* Effect.forEach(ops, resolve)
    const counts: Record<Resolution, number> = { "done": 0, "failed": 0, "needs-operator": 0, "unresolved": 0 }
    for (const o of outcomes) counts[o.resolution] += 1
    return { total: ops.length, counts, outcomes }
  })
