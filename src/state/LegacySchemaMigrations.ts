/**
 * Rollback to a binary from before the Migrator: those releases recorded every owner's
 * migrations in one `schema_migrations` table, and every newer binary keeps that table's rows
 * true, so such a binary either opens state.db as its own or stops at start-up saying why
 * (docs/operations.md, "Upgrades, rollbacks and state.db").
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Effect } from "effect"
import { StateStoreMigrationError } from "./Migration.js"

/**
 * Where the runner before the Migrator recorded every owner's migrations (owner, id, name,
 * applied_at). Read, so a state.db it created opens; and kept written (`keepLegacyRows`), so
 * that runner, in a rolled-back binary, does not take a state.db the Migrator created for an
 * empty one: it would run each migration whose row is missing, and fail on the first table
 * that already exists with nothing but "Failed to prepare statement".
 */
export const LEGACY_TABLE = "schema_migrations"

/** The old runner's own DDL, so its `CREATE TABLE IF NOT EXISTS` finds the table it expects. */
const LEGACY_DDL = `CREATE TABLE IF NOT EXISTS ${LEGACY_TABLE} (
      owner TEXT NOT NULL,
      id INTEGER NOT NULL,
      name TEXT NOT NULL,
      applied_at INTEGER NOT NULL,
      PRIMARY KEY (owner, id)
    ) STRICT`

/**
 * Every migration the releases with the runner before the Migrator shipped, by owner: the
 * schema those binaries can run on. That runner checks only the ids it knows, never any beyond
 * them, so its rows say "applied" only while an owner's schema is exactly this.
 */
const LEGACY_RUNNER_KNEW: ReadonlyMap<string, ReadonlyMap<number, string>> = new Map([
  ["journal", new Map([[1, "create_journal_ops"]])],
  ["nonces", new Map([[1, "create_nonces"]])],
  ["hub", new Map([[1, "hub_desired_and_ops_cursor"]])]
])

/**
 * Keeps the old runner's rows for `owner` true to the schema. While every recorded migration is
 * one it knew, they say so, and a rolled-back binary sees its schema as current and runs on it.
 * Once a later migration is recorded, each id it knew is recorded under a sentence instead of
 * its name: it refuses a recorded id whose name differs, in one line that then says why, and
 * runs nothing (its check comes before any statement of the migration).
 */
export const keepLegacyRows = (sql: SqlClient.SqlClient, owner: string, recorded: ReadonlyMap<number, string>) =>
  Effect.gen(function*() {
    const knew = LEGACY_RUNNER_KNEW.get(owner)
    if (knew === undefined || recorded.size === 0) return
    const later = [...recorded].filter(([id, name]) => knew.get(id) !== name).sort(([a], [b]) => a - b)[0]
    const rows: ReadonlyArray<readonly [number, string]> = later === undefined
      ? [...recorded]
      : [...knew.keys()].map((id) => [
        id,
        `superseded: state.db records ${owner}#${later[0]} (${later[1]}) from a newer felhom-agent; ` +
        "run that version, or restore state.db from before the upgrade"
      ])
    yield* sql.unsafe(LEGACY_DDL)
    const now = yield* Clock.currentTimeMillis
    for (const [id, name] of rows) {
      yield* sql`INSERT INTO ${
        sql(LEGACY_TABLE)
      } (owner, id, name, applied_at) VALUES (${owner}, ${id}, ${name}, ${now})
        ON CONFLICT (owner, id) DO UPDATE SET name = excluded.name WHERE name <> excluded.name`
    }
  }).pipe(
    sql.withTransaction,
    Effect.mapError((e) =>
      new StateStoreMigrationError({ owner, reason: `cannot keep the old runner's records: ${e.message}`, cause: e })
    )
  )
