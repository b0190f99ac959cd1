/**
 * What running one action came to, as data (typed, never thrown). Every
 * outcome but AlreadyApplied and Skipped-before-intent is also in the journal; these values
 * are what the reconciler counts, `apply` prints and the hub will be told.
 */
import { Data } from "effect"
import type { Action } from "../domain/Action.js"

export type Outcome = Data.TaggedEnum<{
  /** PVE applied it: a task ended OK/WARNINGS (upid, exitstatus) or a synchronous success. */
  Applied: {
    readonly upid: string | undefined
    readonly exitstatus: string | undefined
    /** False when the re-read after the call could not confirm the post-state (reads failed). */
    readonly verified: boolean
    readonly detail: string
  }
  /** The op id is done in the journal: answered without a PVE call (invariant 5). */
  AlreadyApplied: {}
  /** The config changed since it was planned (digest mismatch): never forced, re-planned next pass. */
  Conflict: { readonly detail: string }
  /** Not attempted now: a lock (named), a gate refusal, a superseded job, an operator flag. */
  Skipped: {
    readonly reason: string
    /** The typed refusal behind the skip (e.g. GateRefused), which the hub is told about. */
    readonly refusedBy?: string
  }
  /** Not applied (or not known to be): the error's tag and message, the task's exit status. */
  Failed: {
    readonly errorTag: string
    readonly message: string
    readonly exitstatus: string | undefined
  }
}>
export const Outcome = Data.taggedEnum<Outcome>()

export type OutcomeTag = Outcome["_tag"]

/** Applied and AlreadyApplied are the two successes. */
export const isSuccess = (o: Outcome): boolean => o._tag === "Applied" || o._tag === "AlreadyApplied"

export interface OpResult {
  readonly opId: string
  readonly action: Action
  readonly outcome: Outcome
}

/** One line per outcome, for logs and the CLI. */
export const describeOutcome = (o: Outcome): string =>
  Outcome.$match(o, {
    Applied: (a) =>
      `applied${a.exitstatus === undefined ? "" : ` (${a.exitstatus})`}${
        a.verified ? "" : " — not verified"
      }: ${a.detail}`,
    AlreadyApplied: () => "already applied (no PVE call)",
    Conflict: (c) => `conflict: ${c.detail}`,
    Skipped: (s) => `skipped: ${s.reason}`,
    Failed: (f) => `failed (${f.errorTag}): ${f.message}${f.exitstatus === undefined ? "" : ` [exit: ${f.exitstatus}]`}`
  })
