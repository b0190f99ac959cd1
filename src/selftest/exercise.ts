/**
 * One selftest run's checks and tasks, in the order Selftest.ts gives: nothing mutates before
 * every check has passed, and the first failure ends the run. Whatever it found out on the way
 * goes into the run's record, so the report shows how far it got.
 */
import { Effect, Ref, Schema } from "effect"
import { randomBytes } from "node:crypto"
import type { Permissions } from "../domain/Cluster.js"
import type { PveShape } from "../pve/Pve.js"
import { type NodeScopeShape, owns } from "../reconcile/NodeScope.js"
import type { JournalShape } from "../state/Journal.js"
import { lookupGuest } from "./guest.js"
import { describeMissing, type MissingPrivilege, missingPrivileges, vmPath } from "./preflight.js"
import type { GuestSummary, TaskResult } from "./report.js"
import type { SelftestOptions, TaskSelection } from "./Selftest.js"
import {
  check,
  expectThat,
  type MutatingTask,
  type SelftestStepFailed,
  type StepContext,
  type StepRecord,
  type TaskName
} from "./steps.js"
import { hasSelftestTag, SELFTEST_TAG } from "./tag.js"
import { configTask, descriptionMarker, snapshotName, snapshotTask } from "./tasks.js"

/** Refusals and preflight failures end the run before any mutation. */
export class Stop extends Schema.TaggedError<Stop>()("Stop", {
  verdict: Schema.Literal("fail", "refused"),
  reason: Schema.String
}) {}

/** What the run has found out so far; the report is made from it however the run ended. */
export interface RunRecord {
  readonly steps: Ref.Ref<ReadonlyArray<StepRecord>>
  readonly version: Ref.Ref<string | undefined>
  readonly guest: Ref.Ref<GuestSummary | undefined>
  readonly missing: Ref.Ref<ReadonlyArray<MissingPrivilege>>
  readonly results: Ref.Ref<ReadonlyArray<TaskResult>>
}

const mutatingTasksOf = (selection: TaskSelection): ReadonlyArray<MutatingTask> =>
  selection === "all" ? ["snapshot", "config"] : selection === "permissions" ? [] : [selection]

const mergePermissions = (a: Permissions, b: Permissions): Permissions => ({ ...b, ...a })

export const exercise = (
  services: {
    readonly pve: PveShape
    readonly scope: NodeScopeShape
    readonly journal: JournalShape
    /** The token id (`user@realm!name`) the journal records ops under. */
    readonly tokenUser: string
  },
  options: SelftestOptions,
  run: { readonly started: Date; readonly selected: ReadonlyArray<TaskName>; readonly record: RunRecord }
): Effect.Effect<void, Stop | SelftestStepFailed> =>
  Effect.gen(function*() {
    const { journal, pve, scope, tokenUser } = services
    const { selected, started } = run
    const { guest: guestSummary, missing, results, steps, version } = run.record
    const rec = { steps }
    const mutating = mutatingTasksOf(options.task)
    const stop = (verdict: "fail" | "refused", reason: string) => Effect.fail(new Stop({ verdict, reason }))
    const vm = vmPath(options.vmid)

    const v = yield* check(
      rec,
      { task: "preflight", step: "PVE version" },
      Effect.map(
        pve.version,
        (x) => ({
          value: x.version,
          detail: `${x.version}${x.release === undefined ? "" : ` (release ${x.release})`}`
        })
      )
    )
    yield* Ref.set(version, v)

    // `--task permissions` alone checks what every task would need, so a token can be
    // vetted before anything is touched.
    const preflightTasks: ReadonlyArray<MutatingTask> = options.task === "permissions"
      ? ["snapshot", "config"]
      : mutating
    const perms = yield* check(
      rec,
      { task: "preflight", step: `read permissions on ${vm} and /` },
      Effect.map(Effect.all([pve.permissions(vm), pve.permissions("/")]), ([onVm, onRoot]) => {
        const merged = mergePermissions(onVm, onRoot)
        return {
          value: merged,
          detail: `${Object.keys(onVm[vm] ?? {}).length} privilege(s) on ${vm}, ${
            Object.keys(onRoot["/"] ?? {}).length
          } on /`
        }
      })
    )
    const lacking = missingPrivileges(perms, options.vmid, preflightTasks)
    yield* Ref.set(missing, lacking)
    const preflight = yield* Effect.either(
      check(
        rec,
        { task: "permissions", step: `privileges for ${preflightTasks.join(", ") || "no task"}` },
        expectThat(
          lacking.length === 0,
          { value: undefined, detail: "all present" },
          `missing ${lacking.map(describeMissing).join("; ")}`
        )
      )
    )
    if (preflight._tag === "Left") {
      yield* Ref.set(
        results,
        selected.map((task): TaskResult => {
          const own = lacking.filter((m) => m.task === task || task === "permissions")
          return own.length > 0
            ? {
              task,
              status: "failed",
              reason: `missing ${own.map((m) => `${m.privilege} on ${m.path}`).join(", ")}`
            }
            : { task, status: "skipped", reason: "preflight failed; nothing was run" }
        })
      )
      return yield* stop(
        "fail",
        `missing privileges: ${lacking.map((m) => `${m.privilege} on ${m.path}`).join(", ")}`
      )
    }

    if (selected.includes("permissions")) {
      yield* Ref.update(
        results,
        (r): ReadonlyArray<TaskResult> => [...r, { task: "permissions", status: "passed" }]
      )
    }
    const guest = yield* lookupGuest(pve, rec, options.vmid)
    yield* Ref.set(guestSummary, guest.summary)
    // Another node's guest is its own agent's to exercise (node scope), as any other op.
    const ownership = yield* scope.current.pipe(Effect.either)
    if (ownership._tag === "Left") return yield* stop("fail", ownership.left.message)
    if (!owns(ownership.right, guest.summary.node)) {
      return yield* stop(
        "refused",
        `guest ${options.vmid} is on node ${guest.summary.node}, and this agent manages node ${
          ownership.right.node ?? ""
        } only: run the selftest with ${guest.summary.node}'s agent`
      )
    }
    if (mutating.length > 0) {
      if (!hasSelftestTag(guest.summary.tags) && !options.confirm) {
        return yield* stop(
          "refused",
          `guest ${options.vmid} is not designated for the selftest: tag it '${SELFTEST_TAG}' or pass --confirm`
        )
      }
      if (guest.template) return yield* stop("refused", `guest ${options.vmid} is a template`)
      if (guest.lock !== undefined) {
        return yield* stop("refused", `guest ${options.vmid} is locked (${guest.lock})`)
      }
    }

    const ctx: StepContext = {
      pve,
      journal,
      guest: guest.ref,
      tokenUser: tokenUser,
      steps,
      runId: `${started.getTime().toString(36)}-${randomBytes(3).toString("hex")}`,
      waitDeadline: options.waitDeadline ?? "5 minutes"
    }
    for (const task of mutating) {
      const outcome = yield* Effect.either(
        task === "snapshot"
          ? snapshotTask(ctx, snapshotName(started), guest.summary.status === "running")
          : configTask(ctx, descriptionMarker(started, randomBytes(6).toString("hex")))
      )
      if (outcome._tag === "Right") {
        yield* Ref.update(results, (r): ReadonlyArray<TaskResult> => [...r, { task, status: "passed" }])
        continue
      }
      const rest = mutating.slice(mutating.indexOf(task) + 1)
      yield* Ref.update(results, (r): ReadonlyArray<TaskResult> => [
        ...r,
        { task, status: "failed", reason: outcome.left.message },
        ...rest.map((t): TaskResult => ({ task: t, status: "skipped", reason: `${task} failed` }))
      ])
      return yield* stop("fail", outcome.left.message)
    }
  })
