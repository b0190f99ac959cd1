/**
 * Selftest: live, reversible exercises of one designated test guest, the last check before
 * trusting the agent with a real host. Order:
 * PVE version → permission preflight → guest lookup → designation (tag `felhom-selftest` or an
 * explicit confirmation), template and lock checks → the selected tasks, one after another,
 * stopping at the first failure (exercise.ts). Nothing mutates before every check has passed,
 * and each task leaves the guest as it found it even when a step fails (tasks.ts). `run` always
 * answers a report (report.ts); its verdict says whether the selftest passed.
 */
import { Clock, Context, type Duration, Effect, Layer, Ref } from "effect"
import { Pve } from "../pve/Pve.js"
import { NodeScope } from "../reconcile/NodeScope.js"
import { Journal } from "../state/Journal.js"
import { exercise, type RunRecord } from "./exercise.js"
import type { MissingPrivilege } from "./preflight.js"
import { type GuestSummary, reportOf, type SelftestReport, type TaskResult, type Verdict } from "./report.js"
import type { StepRecord, TaskName } from "./steps.js"
import { SELFTEST_TAG } from "./tag.js"

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

export const make = (settings: { readonly tokenUser: string }) =>
  Effect.gen(function*() {
    const pve = yield* Pve
    const scope = yield* NodeScope
    const journal = yield* Journal

    const run = (options: SelftestOptions): Effect.Effect<SelftestReport> =>
      Effect.gen(function*() {
        const started = new Date(yield* Clock.currentTimeMillis)
        const record: RunRecord = {
          steps: yield* Ref.make<ReadonlyArray<StepRecord>>([]),
          version: yield* Ref.make<string | undefined>(undefined),
          guest: yield* Ref.make<GuestSummary | undefined>(undefined),
          missing: yield* Ref.make<ReadonlyArray<MissingPrivilege>>([]),
          results: yield* Ref.make<ReadonlyArray<TaskResult>>([])
        }
        const selected: ReadonlyArray<TaskName> = options.task === "all"
          ? ["permissions", "snapshot", "config"]
          : [options.task]

        const outcome = yield* Effect.either(
          exercise({ pve, scope, journal, tokenUser: settings.tokenUser }, options, { started, selected, record })
        )
        const finished = yield* Clock.currentTimeMillis
        let verdict: Verdict = "pass"
        let reason: string | undefined
        if (outcome._tag === "Left") {
          const e = outcome.left
          verdict = e._tag === "Stop" ? e.verdict : "fail"
          reason = e._tag === "Stop" ? e.reason : e.message
        }
        return reportOf({
          verdict,
          reason,
          started,
          finished,
          tokenUser: settings.tokenUser,
          pveVersion: yield* Ref.get(record.version),
          vmid: options.vmid,
          guest: yield* Ref.get(record.guest),
          selected,
          done: yield* Ref.get(record.results),
          missingPrivileges: yield* Ref.get(record.missing),
          steps: yield* Ref.get(record.steps)
        })
      })

    return { run } satisfies SelftestShape
  })
