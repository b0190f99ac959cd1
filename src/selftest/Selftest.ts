/**
 * Selftest: live, reversible exercises of one designated test guest, the last check before
 * trusting the agent with a real host. Order:
 * PVE version → permission preflight → guest lookup → designation (tag `felhom-selftest` or an
 * explicit confirmation), template and lock checks → the selected tasks, one after another,
 * stopping at the first failure. Nothing mutates before every check has passed, and each task
 * leaves the guest as it found it even when a step fails (tasks.ts). `run` always answers a
 * report; its verdict says whether the selftest passed.
 */
import { Clock, Context, type Duration, Effect, Layer, Ref, Schema } from "effect"
import { randomBytes } from "node:crypto"
import type { Permissions } from "../domain/Cluster.js"
import { GuestRef } from "../domain/Guest.js"
import { Pve, type PveShape } from "../pve/Pve.js"
import { NodeScope, owns } from "../reconcile/NodeScope.js"
import { Journal } from "../state/Journal.js"
import { describeMissing, type MissingPrivilege, missingPrivileges, vmPath } from "./preflight.js"
import type { GuestSummary, SelftestReport, TaskResult, Verdict } from "./report.js"
import {
  check,
  expectThat,
  type MutatingTask,
  SelftestMismatch,
  type SelftestStepFailed,
  type StepContext,
  type StepRecord,
  type TaskName
} from "./steps.js"
import { SELFTEST_TAG } from "./tag.js"
import { configTask, descriptionMarker, snapshotName, snapshotTask } from "./tasks.js"

export { SELFTEST_TAG }

export type TaskSelection = TaskName | "all"

export interface SelftestOptions {
  readonly vmid: number
  readonly task: TaskSelection
  /** The operator's explicit go-ahead for a guest without the tag. */
  readonly confirm: boolean
  /** How long one PVE task may take; default 5 minutes. */
  readonly waitDeadline?: Duration.DurationInput
}

export interface SelftestShape {
  readonly run: (options: SelftestOptions) => Effect.Effect<SelftestReport>
}

export class Selftest extends Context.Tag("felhom/Selftest")<Selftest, SelftestShape>() {
  /** `tokenUser` is the token id (`user@realm!name`) the journal records ops under. */
  static readonly layer = (
    settings: { readonly tokenUser: string }
  ): Layer.Layer<Selftest, never, Pve | Journal | NodeScope> =>
    Layer.effect(Selftest, Effect.suspend(() => make(settings)))
}

/**
 * PVE stores tags `;`-separated but accepts `,` and spaces too (pve-common
 * `PVE::ParseUtils::split_list`); case-insensitive.
 */
export const hasSelftestTag = (tags: string | undefined): boolean =>
  (tags ?? "").split(/[;,\s]+/).some((t) => t.toLowerCase() === SELFTEST_TAG)

const mutatingTasksOf = (selection: TaskSelection): ReadonlyArray<MutatingTask> =>
  selection === "all" ? ["snapshot", "config"] : selection === "permissions" ? [] : [selection]

/** Refusals and preflight failures end the run before any mutation. */
class Stop extends Schema.TaggedError<Stop>()("Stop", {
  verdict: Schema.Literal("fail", "refused"),
  reason: Schema.String
}) {}

const decodeRef = Schema.decodeUnknown(GuestRef)

const mergePermissions = (a: Permissions, b: Permissions): Permissions => ({ ...b, ...a })

export const make = (settings: { readonly tokenUser: string }) =>
  Effect.gen(function*() {
    const pve = yield* Pve
    const scope = yield* NodeScope
    const journal = yield* Journal

    const run = (options: SelftestOptions): Effect.Effect<SelftestReport> =>
      Effect.gen(function*() {
        const started = new Date(yield* Clock.currentTimeMillis)
        const steps = yield* Ref.make<ReadonlyArray<StepRecord>>([])
        const version = yield* Ref.make<string | undefined>(undefined)
        const guestSummary = yield* Ref.make<GuestSummary | undefined>(undefined)
        const missing = yield* Ref.make<ReadonlyArray<MissingPrivilege>>([])
        const results = yield* Ref.make<ReadonlyArray<TaskResult>>([])
        const mutating = mutatingTasksOf(options.task)
        const selected: ReadonlyArray<TaskName> = options.task === "all"
          ? ["permissions", "snapshot", "config"]
          : [options.task]
        const rec = { steps }
        const stop = (verdict: "fail" | "refused", reason: string) => Effect.fail(new Stop({ verdict, reason }))
        const vm = vmPath(options.vmid)

        const program = Effect.gen(function*() {
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
            tokenUser: settings.tokenUser,
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

        const outcome = yield* Effect.either(program)
        const finished = yield* Clock.currentTimeMillis
        let verdict: Verdict = "pass"
        let reason: string | undefined
        if (outcome._tag === "Left") {
          const e = outcome.left
          verdict = e._tag === "Stop" ? e.verdict : "fail"
          reason = e._tag === "Stop" ? e.reason : e.message
        }
        const recorded = yield* Ref.get(steps)
        const done = yield* Ref.get(results)
        const doneNames = new Set(done.map((t) => t.task))
        return {
          verdict,
          reason,
          startedAt: started.toISOString(),
          finishedAt: new Date(finished).toISOString(),
          durationMs: finished - started.getTime(),
          tokenUser: settings.tokenUser,
          pveVersion: yield* Ref.get(version),
          vmid: options.vmid,
          guest: yield* Ref.get(guestSummary),
          selected,
          tasks: [
            ...done,
            ...selected.filter((t) => !doneNames.has(t)).map((task): TaskResult => ({
              task,
              status: "skipped",
              reason: reason ?? "not run"
            }))
          ],
          missingPrivileges: yield* Ref.get(missing),
          steps: recorded.filter((s) => !s.cleanup),
          cleanup: recorded.filter((s) => s.cleanup)
        }
      })

    return { run } satisfies SelftestShape
  })

interface FoundGuest {
  readonly ref: GuestRef
  readonly summary: GuestSummary
  readonly template: boolean
  readonly lock: string | undefined
}

/**
 * The guest by vmid wherever it lives (docs/architecture.md, invariant 3). Tags, lock and
 * template come from its config, not /cluster/resources, whose rows can be ~10 s stale
 * (pve-manager `PVE::Service::pvestatd`).
 */
const lookupGuest = (
  pve: PveShape,
  rec: Pick<StepContext, "steps">,
  vmid: number
): Effect.Effect<FoundGuest, SelftestStepFailed> =>
  check(
    rec,
    { task: "guest", step: `find guest ${vmid}` },
    Effect.gen(function*() {
      const row = (yield* pve.guests).find((g) => g.vmid === vmid)
      if (row === undefined) {
        return yield* new SelftestMismatch({
          reason: `guest ${vmid} not found (or the token lacks VM.Audit on ${vmPath(vmid)})`
        })
      }
      const ref = yield* decodeRef({ vmid: row.vmid, node: row.node, type: row.type }).pipe(
        Effect.mapError((e) => new SelftestMismatch({ reason: `guest ${vmid}: ${e.message}` }))
      )
      const [config, status] = yield* Effect.all([pve.config(ref), pve.status(ref)])
      const str = (key: string): string | undefined => {
        const v = config.values[key]
        return v === undefined ? undefined : String(v)
      }
      const summary: GuestSummary = {
        vmid,
        node: ref.node,
        type: ref.type,
        name: str(ref.type === "qemu" ? "name" : "hostname") ?? row.name,
        status: status.status,
        tags: str("tags")
      }
      const lock = str("lock") ?? status.lock
      const template = str("template") === "1"
      return {
        value: { ref, summary, template, lock },
        detail: `${ref.toString()} ${summary.status}${lock === undefined ? "" : `, locked (${lock})`}${
          template ? ", template" : ""
        }, tags ${summary.tags ?? "none"}`
      }
    })
  )
