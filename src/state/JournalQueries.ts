/**
 * The journal's reads, as typed SQL over its two tables: `journal_ops`, one row per op in its
 * latest phase, and `journal_phases`, every phase each op went through. Rows decode to records
 * here (OpRecord.ts); Journal.ts serves them as verbs.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as SqlSchema from "@effect/sql/SqlSchema"
import { Effect, Option, type ParseResult, Schema } from "effect"
import { JournalOpNotFound, JournalStorageError } from "./JournalError.js"
import { OpPhase, OpRecordFromRow, PhaseEntryFromRow, UNFINISHED_PHASES } from "./OpRecord.js"

export interface ListFilter {
  /** Newest first; default 100. */
  readonly limit?: number
  readonly phase?: OpPhase
  readonly vmid?: number
}

/** The phases an operator watches: ops not finished yet, and ops waiting for a decision. */
export const COUNTED_PHASES = ["intent", "in-flight", "needs-operator"] as const satisfies ReadonlyArray<OpPhase>
export type JournalPhaseCounts = { readonly [P in typeof COUNTED_PHASES[number]]: number }

/** A failed statement or an undecodable row, as the journal reports it: the verb it served. */
export const storage = (operation: string) => (e: SqlError | ParseResult.ParseError) =>
  new JournalStorageError({ operation, reason: e.message, cause: e })

const ListFilterRequest = Schema.Struct({
  limit: Schema.optional(Schema.Int.pipe(Schema.between(1, 10_000))),
  phase: Schema.optional(Schema.Literal("intent", "in-flight", "done", "failed", "needs-operator")),
  vmid: Schema.optional(Schema.Int)
})

export const makeQueries = (sql: SqlClient.SqlClient) => {
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

  /** The op, which must exist (it was just written, or named by a unique prefix). */
  const mustGet = (opId: string) =>
    Effect.flatMap(
      findOp(opId),
      Option.match({
        onNone: () => Effect.fail(new JournalOpNotFound({ opId })),
        onSome: Effect.succeed
      })
    )

  return { findOp, findOps, findHistory, findUnfinished, findByPrefix, findUpidOwners, countPhases, mustGet }
}

export type JournalQueries = ReturnType<typeof makeQueries>
