/**
 * Journal: the durable op journal and idempotency store (docs/architecture.md, invariant 5). An op is
 * written as `intent` before its PVE call, becomes `in-flight` when PVE answers a UPID, and
 * ends `done`, `failed` or `needs-operator`. Every verb is one SQLite transaction, committed
 * with synchronous=FULL before it returns, and appends to the phase history. An op id that is
 * done answers `JournalAlreadyApplied`; the same id with other params is `JournalOpConflict`.
 * Start-up resolution of unfinished ops lives in Recovery.ts; the SQL of the reads is
 * JournalQueries.ts, the intent and the phase moves JournalWrites.ts.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { UpidString } from "../domain/Upid.js"
import {
  type JournalIntentError,
  JournalOpAmbiguous,
  JournalOpNotFound,
  JournalStorageError,
  type JournalWriteError
} from "./JournalError.js"
import { journalMigrations } from "./JournalMigrations.js"
import { type JournalPhaseCounts, type ListFilter, makeQueries, storage } from "./JournalQueries.js"
import { makeWrites } from "./JournalWrites.js"
import type { OpDetail, OpIntentInput, OpPhase, OpRecord, PhaseEntry } from "./OpRecord.js"
import { StateStore } from "./StateStore.js"

export type { JournalPhaseCounts, ListFilter } from "./JournalQueries.js"

export interface JournalShape {
  /** Journals the intent, or answers the existing unfinished record of the same op (resume it). */
  readonly intent: (op: OpIntentInput) => Effect.Effect<OpRecord, JournalIntentError>
  /** intent → in-flight with the task PVE answered. Repeating the same UPID is a no-op. */
  readonly recordUpid: (opId: string, upid: UpidString) => Effect.Effect<OpRecord, JournalWriteError>
  /** → done; `outcome` says how it was known (exit status, "confirmed by observation"…). */
  readonly finish: (opId: string, outcome: OpDetail) => Effect.Effect<OpRecord, JournalWriteError>
  readonly fail: (opId: string, error: OpDetail) => Effect.Effect<OpRecord, JournalWriteError>
  /** → needs-operator: the agent cannot tell what happened and will not guess. */
  readonly flag: (opId: string, reason: OpDetail) => Effect.Effect<OpRecord, JournalWriteError>
  readonly get: (opId: string) => Effect.Effect<Option.Option<OpRecord>, JournalStorageError>
  /** The op an id or a unique prefix of one names (as `journal list` prints them, like git). */
  readonly resolve: (
    idOrPrefix: string
  ) => Effect.Effect<OpRecord, JournalOpNotFound | JournalOpAmbiguous | JournalStorageError>
  readonly list: (filter?: ListFilter) => Effect.Effect<ReadonlyArray<OpRecord>, JournalStorageError>
  /** Every phase the op went through, oldest first. */
  readonly history: (opId: string) => Effect.Effect<ReadonlyArray<PhaseEntry>, JournalStorageError>
  /** Ops in `intent` or `in-flight`, oldest intent first: what recovery must resolve. */
  readonly unfinished: Effect.Effect<ReadonlyArray<OpRecord>, JournalStorageError>
  /**
   * Which op each of these UPIDs was ever recorded for (any attempt, any phase): a task that
   * belongs to another op is not a candidate when recovery searches for a lost UPID.
   */
  readonly upidOwners: (upids: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, string>, JournalStorageError>
  /** How many ops are in each of COUNTED_PHASES now (0 for a phase with none); the metrics scrape reads it. */
  readonly countByPhase: Effect.Effect<JournalPhaseCounts, JournalStorageError>
}

export class Journal extends Context.Tag("felhom/Journal")<Journal, JournalShape>() {
  /** Registers the journal's migrations with the StateStore, then serves the verbs. */
  static readonly layer: Layer.Layer<Journal, JournalStorageError, StateStore> = Layer.effect(
    Journal,
    // `make` is defined below the tag (service files read tag first); suspend defers reading it.
    Effect.suspend(() => make)
  )
}

export const make = Effect.gen(function*() {
  const store = yield* StateStore
  const sql = store.sql
  yield* store.migrate("journal", journalMigrations).pipe(
    Effect.mapError((e) => new JournalStorageError({ operation: "migrate", reason: e.message, cause: e }))
  )
  const queries = makeQueries(sql)
  const { countPhases, findByPrefix, findHistory, findOp, findOps, findUnfinished, findUpidOwners, mustGet } = queries
  const { intent, transition } = makeWrites(sql, queries)

  const journal: JournalShape = {
    intent,
    recordUpid: (opId, upid) => transition(opId, "in-flight", upid, null),
    finish: (opId, outcome) => transition(opId, "done", null, outcome),
    fail: (opId, error) => transition(opId, "failed", null, error),
    flag: (opId, reason) => transition(opId, "needs-operator", null, reason),
    get: (opId) => findOp(opId).pipe(Effect.catchTags({ SqlError: storage("get"), ParseError: storage("get") })),
    resolve: (idOrPrefix) =>
      Effect.gen(function*() {
        const exact = yield* findOp(idOrPrefix)
        if (Option.isSome(exact)) return exact.value
        const rows = idOrPrefix === "" ? [] : yield* findByPrefix(idOrPrefix)
        const [only, ...rest] = rows
        if (only === undefined) return yield* new JournalOpNotFound({ opId: idOrPrefix })
        if (rest.length > 0) {
          return yield* new JournalOpAmbiguous({
            prefix: idOrPrefix,
            candidates: rows.map((r) => r.op_id)
          })
        }
        return yield* mustGet(only.op_id)
      }).pipe(Effect.catchTags({ SqlError: storage("resolve"), ParseError: storage("resolve") })),
    list: (filter = {}) =>
      findOps(filter).pipe(Effect.catchTags({ SqlError: storage("list"), ParseError: storage("list") })),
    history: (opId) =>
      findHistory(opId).pipe(Effect.catchTags({ SqlError: storage("history"), ParseError: storage("history") })),
    unfinished: findUnfinished(undefined).pipe(
      Effect.catchTags({ SqlError: storage("unfinished"), ParseError: storage("unfinished") })
    ),
    upidOwners: (upids) =>
      (upids.length === 0 ? Effect.succeed([]) : findUpidOwners(upids)).pipe(
        Effect.map((rows) => new Map(rows.map((r) => [r.upid, r.op_id]))),
        Effect.catchTags({ SqlError: storage("upidOwners"), ParseError: storage("upidOwners") })
      ),
    countByPhase: countPhases(undefined).pipe(
      Effect.map((rows): JournalPhaseCounts => {
        const count = (phase: OpPhase) => rows.find((r) => r.phase === phase)?.ops ?? 0
        return { "intent": count("intent"), "in-flight": count("in-flight"), "needs-operator": count("needs-operator") }
      }),
      Effect.catchTags({ SqlError: storage("countByPhase"), ParseError: storage("countByPhase") })
    )
  }
  return journal
})
