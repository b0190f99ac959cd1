/**
 * Journal: the durable op journal and idempotency store (docs/architecture.md, invariant 5). An op is
 * written as `intent` before its PVE call, becomes `in-flight` when PVE answers a UPID, and
 * ends `done`, `failed` or `needs-operator`. Every verb is one SQLite transaction, committed
 * with synchronous=FULL before it returns, and appends to the phase history. An op id that is
 * done answers `JournalAlreadyApplied`; the same id with other params is `JournalOpConflict`.
 * Start-up resolution of unfinished ops lives in Recovery.ts.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as SqlSchema from "@effect/sql/SqlSchema"
import { Clock, Context, Effect, Layer, Option, ParseResult, Schema } from "effect"
import type { UpidString } from "../domain/Upid.js"
import {
  JournalAlreadyApplied,
  JournalBadTransition,
  type JournalIntentError,
  JournalInvalidOp,
  JournalNeedsOperator,
  JournalOpAmbiguous,
  JournalOpConflict,
  JournalOpNotFound,
  JournalStorageError,
  type JournalWriteError
} from "./JournalError.js"
import { journalMigrations } from "./JournalMigrations.js"
import {
  canonicalJson,
  type OpDetail,
  OpIntent,
  type OpIntentInput,
  OpPhase,
  type OpRecord,
  OpRecordFromRow,
  paramsHash,
  type PhaseEntry,
  PhaseEntryFromRow,
  UNFINISHED_PHASES
} from "./OpRecord.js"
import { StateStore } from "./StateStore.js"

export interface ListFilter {
  /** Newest first; default 100. */
  readonly limit?: number
  readonly phase?: OpPhase
  readonly vmid?: number
}

/** The phases an operator watches: ops not finished yet, and ops waiting for a decision. */
export const COUNTED_PHASES = ["intent", "in-flight", "needs-operator"] as const satisfies ReadonlyArray<OpPhase>
export type JournalPhaseCounts = { readonly [P in typeof COUNTED_PHASES[number]]: number }

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

const storage = (operation: string) => (e: SqlError | ParseResult.ParseError) =>
  new JournalStorageError({ operation, reason: e.message, cause: e })

const detailJson = (d: OpDetail | null): string | null => (d === null ? null : JSON.stringify(d))

/** Decode issues as `path: message`; TokenUser's message never contains the value. */
const issuesOf = (e: ParseResult.ParseError): ReadonlyArray<string> =>
  ParseResult.ArrayFormatter.formatErrorSync(e).map((i) =>
    i.path.length > 0 ? `${i.path.join(".")}: ${i.message}` : i.message
  )

const ALLOWED_FROM: Record<OpPhase, ReadonlyArray<OpPhase>> = {
  "intent": [],
  "in-flight": ["intent"],
  "done": ["intent", "in-flight"],
  "failed": ["intent", "in-flight"],
  "needs-operator": ["intent", "in-flight", "failed"]
}

export const make = Effect.gen(function*() {
  const store = yield* StateStore
  const sql = store.sql
  yield* store.migrate("journal", journalMigrations).pipe(
    Effect.mapError((e) => new JournalStorageError({ operation: "migrate", reason: e.message, cause: e }))
  )

  const findOp = SqlSchema.findOne({
    Request: Schema.String,
    Result: OpRecordFromRow,
    execute: (opId) => sql`SELECT * FROM journal_ops WHERE op_id = ${opId}`
  })
  const findOps = SqlSchema.findAll({
    Request: ListFilterRequest,
    Result: OpRecordFromRow,
    execute: (f) =>
      sql`SELECT * FROM journal_ops WHERE ${
        sql.and([
          ...(f.phase === undefined ? [] : [sql`phase = ${f.phase}`]),
          ...(f.vmid === undefined ? [] : [sql`vmid = ${f.vmid}`])
        ])
      } ORDER BY intent_at DESC, rowid DESC LIMIT ${f.limit ?? 100}`
  })
  const findHistory = SqlSchema.findAll({
    Request: Schema.String,
    Result: PhaseEntryFromRow,
    execute: (opId) => sql`SELECT op_id, phase, at, upid, detail FROM journal_phases WHERE op_id = ${opId} ORDER BY seq`
  })
  const findUnfinished = SqlSchema.findAll({
    Request: Schema.Void,
    Result: OpRecordFromRow,
    execute: () => sql`SELECT * FROM journal_ops WHERE ${sql.in("phase", UNFINISHED_PHASES)} ORDER BY intent_at, rowid`
  })

  const findByPrefix = SqlSchema.findAll({
    Request: Schema.String,
    Result: Schema.Struct({ op_id: Schema.String }),
    // substr, not LIKE: op ids may hold % and _ (revert:…, signed ids).
    execute: (prefix) =>
      sql`SELECT op_id FROM journal_ops WHERE substr(op_id, 1, ${prefix.length}) = ${prefix} ORDER BY op_id LIMIT 11`
  })

  const findUpidOwners = SqlSchema.findAll({
    Request: Schema.Array(Schema.String),
    Result: Schema.Struct({ upid: Schema.String, op_id: Schema.String }),
    // journal_phases keeps the UPIDs of earlier attempts too (a reopened op clears its row's).
    execute: (upids) => sql`SELECT DISTINCT upid, op_id FROM journal_phases WHERE ${sql.in("upid", upids)}`
  })

  // No index on phase, so this scans journal_ops, which keeps every op ever run: measured 16 ms
  // for 100,000 ops (in memory, 2 cores), once per scrape. An index would need a migration.
  const countPhases = SqlSchema.findAll({
    Request: Schema.Void,
    Result: Schema.Struct({ phase: OpPhase, ops: Schema.NonNegativeInt }),
    execute: () =>
      sql`SELECT phase, COUNT(*) AS ops FROM journal_ops WHERE ${sql.in("phase", COUNTED_PHASES)} GROUP BY phase`
  })

  const appendPhase = (opId: string, phase: OpPhase, at: number, upid: string | null, detail: OpDetail | null) =>
    sql`INSERT INTO journal_phases (op_id, phase, at, upid, detail)
        VALUES (${opId}, ${phase}, ${at}, ${upid}, ${detailJson(detail)})`

  const mustGet = (opId: string) =>
    Effect.flatMap(
      findOp(opId),
      Option.match({
        onNone: () => Effect.fail(new JournalOpNotFound({ opId })),
        onSome: Effect.succeed
      })
    )

  const insert = (op: OpIntent, hash: string, now: number) =>
    Effect.gen(function*() {
      yield* sql`INSERT INTO journal_ops ${
        sql.insert({
          op_id: op.opId,
          origin: op.origin,
          vmid: op.vmid,
          node: op.node,
          guest_type: op.guestType,
          action: op.action,
          params: canonicalJson(op.params),
          params_hash: hash,
          pre_state: canonicalJson(op.preState),
          pre_digest: op.preDigest,
          inverse: op.inverse === null ? null : canonicalJson(op.inverse),
          token_user: op.tokenUser,
          intent_at: now,
          updated_at: now,
          attempt: 1,
          phase: "intent",
          upid: null,
          detail: null
        })
      }`
      yield* appendPhase(op.opId, "intent", now, null, null)
      return yield* mustGet(op.opId)
    })

  /**
   * The op id is known. A failed op may be planned again under the same id (its params are
   * the same, so it is the same change): it is reopened with the fresh pre-state.
   */
  const resume = (existing: OpRecord, op: OpIntent, hash: string, now: number) =>
    Effect.gen(function*() {
      const reason = existing.paramsHash !== hash
        ? "params differ"
        : existing.vmid !== op.vmid || existing.action !== op.action || existing.guestType !== op.guestType
        ? `journaled for ${existing.action} on ${existing.guestType}/${existing.vmid}`
        : undefined
      if (reason !== undefined) {
        return yield* new JournalOpConflict({
          opId: op.opId,
          existingHash: existing.paramsHash,
          requestedHash: hash,
          reason
        })
      }
      switch (existing.phase) {
        case "done":
          return yield* new JournalAlreadyApplied({ op: existing })
        case "needs-operator":
          return yield* new JournalNeedsOperator({ op: existing })
        case "intent":
        case "in-flight":
          return existing
        case "failed": {
          const attempt = existing.attempt + 1
          yield* sql`UPDATE journal_ops SET phase = 'intent', upid = NULL, detail = NULL, attempt = ${attempt},
              intent_at = ${now}, updated_at = ${now}, node = ${op.node}, pre_state = ${canonicalJson(op.preState)},
              pre_digest = ${op.preDigest}, inverse = ${op.inverse === null ? null : canonicalJson(op.inverse)}
            WHERE op_id = ${op.opId}`
          yield* appendPhase(op.opId, "intent", now, null, { message: `planned again (attempt ${attempt})` })
          return yield* mustGet(op.opId)
        }
      }
    })

  const intent = (input: OpIntentInput) =>
    Effect.gen(function*() {
      const op = yield* Schema.decodeUnknown(OpIntent)(input).pipe(
        Effect.mapError((e) => new JournalInvalidOp({ opId: String(input.opId), issues: issuesOf(e) }))
      )
      const hash = paramsHash(op.params)
      const now = yield* Clock.currentTimeMillis
      return yield* sql.withTransaction(
        Effect.flatMap(
          findOp(op.opId),
          Option.match({
            onNone: () => insert(op, hash, now),
            onSome: (existing) => resume(existing, op, hash, now)
          })
        )
      )
    }).pipe(
      // JournalOpNotFound cannot happen here: the row was written in the same transaction.
      Effect.catchTags({
        SqlError: storage("intent"),
        ParseError: storage("intent"),
        JournalOpNotFound: (e) => new JournalStorageError({ operation: "intent", reason: e.message })
      })
    )

  const transition = (opId: string, to: OpPhase, upid: UpidString | null, detail: OpDetail | null) =>
    sql.withTransaction(Effect.gen(function*() {
      const existing = yield* mustGet(opId)
      // Recording the same UPID twice (a retried call) is harmless; anything else is a bug upstream.
      if (to === "in-flight" && existing.phase === "in-flight" && existing.upid === upid) return existing
      if (!ALLOWED_FROM[to].includes(existing.phase)) {
        return yield* new JournalBadTransition({ opId, from: existing.phase, to })
      }
      const now = yield* Clock.currentTimeMillis
      yield* sql`UPDATE journal_ops SET phase = ${to}, upid = COALESCE(${upid}, upid), detail = ${detailJson(detail)},
          updated_at = ${now} WHERE op_id = ${opId}`
      yield* appendPhase(opId, to, now, upid, detail)
      return yield* mustGet(opId)
    })).pipe(Effect.catchTags({ SqlError: storage(to), ParseError: storage(to) }))

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

const ListFilterRequest = Schema.Struct({
  limit: Schema.optional(Schema.Int.pipe(Schema.between(1, 10_000))),
  phase: Schema.optional(Schema.Literal("intent", "in-flight", "done", "failed", "needs-operator")),
  vmid: Schema.optional(Schema.Int)
})
