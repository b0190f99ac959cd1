/**
 * Runs one owner's migrations with @effect/sql's Migrator. Each owner (journal, nonces, …)
 * registers its own numbered migrations under its own name and gets a migrations table of its
 * own, so a later store adds tables without renumbering anyone else's (the Migrator runs only
 * ids above the latest it recorded: one shared table would skip them). Around the Migrator it
 * checks what the Migrator does not: that recorded names match the code, that nothing newer is
 * recorded (NewerSchema.ts), and that the old runner's rows stay true (LegacySchemaMigrations.ts).
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Option, Schema } from "effect"
import { keepLegacyRows, LEGACY_TABLE } from "./LegacySchemaMigrations.js"
import { type Migration, StateStoreMigrationError } from "./Migration.js"
import { newerThanKnown, type StateStoreNewerSchemaError } from "./NewerSchema.js"

export type StateStoreMigrateError = StateStoreMigrationError | StateStoreNewerSchemaError

const decodeRecorded = Schema.decodeUnknown(Schema.Array(Schema.Struct({ id: Schema.Number, name: Schema.String })))
const decodeTables = Schema.decodeUnknown(Schema.Array(Schema.Struct({ name: Schema.String })))

/** The owner's migrations table (Migrator's `table` option). */
const migrationsTable = (owner: string): string => `migrations_${owner}`

/** @effect/sql's Migrator without its schema dump, the one part that needs more than the client. */
const runMigrator = Migrator.make({})

/** The owner's recorded migrations, id → name: its own table and the legacy one. */
const recordedWith = (sql: SqlClient.SqlClient) => (owner: string) =>
  Effect.gen(function*() {
    const table = migrationsTable(owner)
    const present = yield* Effect.flatMap(
      sql`SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (${table}, ${LEGACY_TABLE})`,
      decodeTables
    )
    const has = (name: string) => present.some((t) => t.name === name)
    const legacy = has(LEGACY_TABLE)
      ? yield* Effect.flatMap(sql`SELECT id, name FROM ${sql(LEGACY_TABLE)} WHERE owner = ${owner}`, decodeRecorded)
      : []
    const own = has(table)
      ? yield* Effect.flatMap(sql`SELECT migration_id AS id, name FROM ${sql(table)}`, decodeRecorded)
      : []
    return new Map([...legacy, ...own].map((r) => [r.id, r.name]))
  }).pipe(Effect.mapError((e) =>
    new StateStoreMigrationError({ owner, reason: `cannot read its records: ${e.message}`, cause: e })
  ))

/**
 * The first migration recorded under another name, or (with `missing` given) not recorded at
 * all. The Migrator itself compares neither: it runs what is above its latest id.
 */
const disagreement = (
  owner: string,
  recorded: ReadonlyMap<number, string>,
  migrations: ReadonlyArray<Migration>,
  missing?: string
): Effect.Effect<void, StateStoreMigrationError> => {
  for (const m of migrations) {
    const name = recorded.get(m.id)
    const reason = name === undefined
      ? missing
      : name === m.name
      ? undefined
      : `recorded as "${name}"; ids must never be reused`
    if (reason !== undefined) {
      return Effect.fail(new StateStoreMigrationError({ owner, id: m.id, name: m.name, reason }))
    }
  }
  return Effect.void
}

/** The writer's `migrate` (StateStore.ts, `StateStoreShape.migrate`). */
export const migrateWith =
  (sql: SqlClient.SqlClient, filename: string) => (owner: string, migrations: ReadonlyArray<Migration>) =>
    Effect.gen(function*() {
      const sorted = [...migrations].sort((a, b) => a.id - b.id)
      const clash = sorted.find((m, i) => !Number.isInteger(m.id) || m.id <= 0 || sorted[i + 1]?.id === m.id)
      if (clash !== undefined) {
        return yield* new StateStoreMigrationError({
          owner,
          id: clash.id,
          name: clash.name,
          reason: "migration ids must be unique positive integers"
        })
      }
      const before = yield* recordedWith(sql)(owner)
      yield* disagreement(owner, before, sorted)
      yield* newerThanKnown(filename, owner, before, sorted)
      // The migrations, their records and the old runner's rows commit together (the Migrator's
      // and keepLegacyRows' own transactions become savepoints): a crash between them must not
      // leave rows that tell a rolled-back binary the old schema is still current.
      const ran = yield* Effect.gen(function*() {
        const applied = yield* runMigrator({
          table: migrationsTable(owner),
          loader: Effect.succeed(sorted.map((m) =>
            [
              m.id,
              m.name,
              // Recorded already (by the runner before the Migrator): the Migrator only records it.
              // A failure dies, because the Migrator turns failures into untyped defects anyway.
              Effect.succeed(
                before.has(m.id) ?
                  Effect.void :
                  Effect.catchAll(
                    m.up,
                    (e) =>
                      Effect.die(
                        new StateStoreMigrationError({ owner, id: m.id, name: m.name, reason: e.message, cause: e })
                      )
                  )
              )
            ] as const
          ))
        }).pipe(
          Effect.provideService(SqlClient.SqlClient, sql),
          Effect.mapError((e) => new StateStoreMigrationError({ owner, reason: e.message, cause: e })),
          Effect.catchSomeDefect((d) =>
            d instanceof StateStoreMigrationError ? Option.some(Effect.fail(d)) : Option.none()
          )
        )
        // The Migrator answers "nothing applied" when writing its records fails (it takes that for
        // another process migrating) and skips an id below its latest: check the outcome.
        const after = yield* recordedWith(sql)(owner)
        yield* disagreement(owner, after, sorted, "not applied")
        yield* keepLegacyRows(sql, owner, after)
        return applied
      }).pipe(
        sql.withTransaction,
        Effect.catchTag("SqlError", (e) => new StateStoreMigrationError({ owner, reason: e.message, cause: e }))
      )
      return ran.map(([id]) => id).filter((id) => !before.has(id))
    })

/**
 * A reader's `migrate`: writes nothing, only checks that every migration is recorded. A reader
 * runs beside the writer (the daemon, `apply`), whose own start-up may be migrating right now.
 */
export const checkOnlyWith =
  (sql: SqlClient.SqlClient, filename: string) => (owner: string, migrations: ReadonlyArray<Migration>) =>
    Effect.flatMap(recordedWith(sql)(owner), (recorded) =>
      Effect.zipRight(
        disagreement(owner, recorded, migrations),
        Effect.zipRight(
          newerThanKnown(filename, owner, recorded, migrations),
          disagreement(
            owner,
            recorded,
            migrations,
            "not applied yet: the state database is being created or is from an older version; run the agent (or try again) first"
          )
        )
      )).pipe(Effect.as([]))
