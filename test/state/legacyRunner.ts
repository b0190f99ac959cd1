/**
 * The migration runner the releases before @effect/sql's Migrator shipped, restated from this
 * repository's history so a test can play a rolled-back binary against a state.db: every
 * owner's migrations in one `schema_migrations` table; per migration, one transaction that
 * skips a recorded id (refusing one recorded under another name) and otherwise runs it and
 * records it. It never looks at ids beyond the ones it is given. Its reader checks only that
 * each given id is recorded.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Data, Effect, Schema } from "effect"
import type { Migration } from "../../src/state/Migration.js"

export class LegacyMigrationError extends Data.TaggedError("LegacyMigrationError")<{
  readonly owner: string
  readonly id: number
  readonly name: string
  readonly reason: string
}> {
  override get message(): string {
    return `migration ${this.owner}#${this.id} (${this.name}) failed: ${this.reason}`
  }
}

const decodeApplied = Schema.decodeUnknown(Schema.Array(Schema.Struct({ id: Schema.Number, name: Schema.String })))

/** Opening, as the old StateStore did for a writer: its table, created if missing. */
export const legacyOpen = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql`CREATE TABLE IF NOT EXISTS schema_migrations (
      owner TEXT NOT NULL,
      id INTEGER NOT NULL,
      name TEXT NOT NULL,
      applied_at INTEGER NOT NULL,
      PRIMARY KEY (owner, id)
    ) STRICT`
)

/** The old writer's `migrate`: the ids it ran. */
export const legacyMigrate = (owner: string, migrations: ReadonlyArray<Migration>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const applied: Array<number> = []
    for (const m of [...migrations].sort((a, b) => a.id - b.id)) {
      const fail = (reason: string) => new LegacyMigrationError({ owner, id: m.id, name: m.name, reason })
      const ran = yield* sql.withTransaction(
        Effect.gen(function*() {
          const rows = yield* sql`SELECT id, name FROM schema_migrations WHERE owner = ${owner} AND id = ${m.id}`
          const existing = yield* decodeApplied(rows).pipe(Effect.mapError((e) => fail(e.message)))
          const prior = existing[0]
          if (prior !== undefined) {
            if (prior.name !== m.name) return yield* fail(`recorded as "${prior.name}"; ids must never be reused`)
            return false
          }
          yield* m.up
          const now = yield* Clock.currentTimeMillis
          yield* sql`INSERT INTO schema_migrations (owner, id, name, applied_at)
            VALUES (${owner}, ${m.id}, ${m.name}, ${now})`
          return true
        })
      ).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(fail(e.message))))
      if (ran) applied.push(m.id)
    }
    return applied
  })

/** The old reader's check: the first given migration not recorded, if any. */
export const legacyCheck = (owner: string, migrations: ReadonlyArray<Migration>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`SELECT id, name FROM schema_migrations WHERE owner = ${owner}`.pipe(
      Effect.flatMap(decodeApplied),
      Effect.orElseSucceed(() => [])
    )
    const recorded = new Set(rows.map((r) => r.id))
    return migrations.find((m) => !recorded.has(m.id))
  })
