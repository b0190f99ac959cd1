/**
 * The journal's writes, each one SQLite transaction that also appends to the phase history:
 * the intent (a new op, or the same op id again: resumed while unfinished, reopened once failed,
 * refused when done, flagged or different), and each later move between phases, checked against
 * the ones allowed (intent → in-flight → done | failed | needs-operator).
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Effect, Option, ParseResult, Schema } from "effect"
import type { UpidString } from "../domain/Upid.js"
import {
  JournalAlreadyApplied,
  JournalBadTransition,
  JournalInvalidOp,
  JournalNeedsOperator,
  JournalOpConflict,
  JournalStorageError
} from "./JournalError.js"
import { type JournalQueries, storage } from "./JournalQueries.js"
import {
  canonicalJson,
  type OpDetail,
  OpIntent,
  type OpIntentInput,
  type OpPhase,
  type OpRecord,
  paramsHash
} from "./OpRecord.js"

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

export const makeWrites = (sql: SqlClient.SqlClient, { findOp, mustGet }: JournalQueries) => {
  const appendPhase = (opId: string, phase: OpPhase, at: number, upid: string | null, detail: OpDetail | null) =>
    sql`INSERT INTO journal_phases (op_id, phase, at, upid, detail)
        VALUES (${opId}, ${phase}, ${at}, ${upid}, ${detailJson(detail)})`

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

  return { intent, transition }
}
