/**
 * StateStore: the agent's one SQLite database (state.db). It owns the connection, makes the
 * file durable (WAL + synchronous=FULL: NORMAL can lose the last commits on power loss, per
 * SQLite's `PRAGMA synchronous`) and private (0600 file, 0700 directory, docs/architecture.md,
 * invariant 8), and applies migrations with @effect/sql's Migrator. Each owner (journal,
 * nonces, …) registers its own numbered migrations under its own name and gets a migrations
 * table of its own, so a later store adds tables without renumbering anyone else's (the
 * Migrator runs only ids above the latest it recorded: one shared table would skip them).
 * Upgrades and rollbacks across schema versions: docs/operations.md, "Upgrades, rollbacks and
 * state.db".
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Context, Data, Effect, Layer, Option, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"

/** The database could not be opened or prepared (file, directory, pragmas). */
export class StateStoreOpenError extends Data.TaggedError("StateStoreOpenError")<{
  readonly filename: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `cannot open state database ${this.filename}: ${this.reason}`
  }
}

/**
 * A migration failed, or the recorded history disagrees with the code (renamed/renumbered).
 * `id` and `name` are absent when no single migration is to blame (its records unreadable).
 */
export class StateStoreMigrationError extends Data.TaggedError("StateStoreMigrationError")<{
  readonly owner: string
  readonly id?: number
  readonly name?: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return this.id === undefined
      ? `migrations of ${this.owner} failed: ${this.reason}`
      : `migration ${this.owner}#${this.id} (${this.name}) failed: ${this.reason}`
  }
}

/**
 * The database records a migration this binary does not know: a newer felhom-agent wrote it (a
 * rolled-back binary meets its successor's schema). Nothing runs on a schema it does not know.
 */
export class StateStoreNewerSchemaError extends Data.TaggedError("StateStoreNewerSchemaError")<{
  readonly filename: string
  readonly owner: string
  /** The highest migration id of `owner` this binary knows (0: none). */
  readonly known: number
  /** The recorded migrations of `owner` this binary does not know, by id. */
  readonly unknown: ReadonlyArray<{ readonly id: number; readonly name: string }>
}> {
  override get message(): string {
    const found = this.unknown.map((m) => `${this.owner}#${m.id} (${m.name})`).join(", ")
    return `state database ${this.filename} was written by a newer felhom-agent: it records migration ${found}, ` +
      `this binary knows ${this.owner} up to #${this.known}; run that version again, or restore state.db from before ` +
      `the upgrade (docs/operations.md, "Upgrades, rollbacks and state.db")`
  }
}

export type StateStoreMigrateError = StateStoreMigrationError | StateStoreNewerSchemaError

export interface Migration {
  /** Positive and increasing within one owner; never reused or renumbered once shipped. */
  readonly id: number
  readonly name: string
  readonly up: Effect.Effect<unknown, SqlError, SqlClient.SqlClient>
}

export interface StateStoreShape {
  readonly filename: string
  readonly sql: SqlClient.SqlClient
  /**
   * Applies `owner`'s migrations that are not yet recorded, in id order, in one transaction
   * together with their records. Idempotent: re-running applies nothing. Answers the ids
   * applied by this call. A reader's (mode "read") only checks they are all recorded. Either
   * refuses a database that records a migration of `owner` the code does not have (a newer
   * binary's: StateStoreNewerSchemaError) before anything runs.
   */
  readonly migrate: (
    owner: string,
    migrations: ReadonlyArray<Migration>
  ) => Effect.Effect<ReadonlyArray<number>, StateStoreMigrateError>
}

const MEMORY = ":memory:"
const BUSY_TIMEOUT_MS = 5_000

const decodeRecorded = Schema.decodeUnknown(Schema.Array(Schema.Struct({ id: Schema.Number, name: Schema.String })))
const decodeTables = Schema.decodeUnknown(Schema.Array(Schema.Struct({ name: Schema.String })))
const decodeJournalMode = Schema.decodeUnknown(Schema.Array(Schema.Struct({ journal_mode: Schema.String })))

/**
 * Creates the parent directory (0700) and the database file (0600) before SQLite opens it.
 * SQLite gives -wal/-shm/-journal the mode of the database file and fchmods them past the
 * umask (os_unix.c robust_open), so a 0600 database keeps its side files 0600 too. An
 * existing file is tightened, never loosened.
 */
const prepareFile = (filename: string) =>
  Effect.try({
    try: () => {
      const dir = path.dirname(path.resolve(filename))
      if (!fs.existsSync(dir)) {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
        fs.chmodSync(dir, 0o700) // mkdir's mode is filtered by the umask
      }
      const fd = fs.openSync(filename, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600)
      try {
        fs.fchmodSync(fd, 0o600)
      } finally {
        fs.closeSync(fd)
      }
      for (const suffix of ["-wal", "-shm", "-journal"]) {
        if (fs.existsSync(filename + suffix)) fs.chmodSync(filename + suffix, 0o600)
      }
    },
    catch: (cause) => new StateStoreOpenError({ filename, reason: String(cause), cause })
  })

const pragmas = (sql: SqlClient.SqlClient, filename: string) =>
  Effect.gen(function*() {
    // The client runs every statement on one connection, so connection pragmas hold for its lifetime.
    yield* sql.unsafe(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)
    yield* sql.unsafe("PRAGMA synchronous = FULL")
    yield* sql.unsafe("PRAGMA foreign_keys = ON")
    if (filename !== MEMORY) {
      // SqliteClient already asked for WAL; a filesystem that cannot do WAL answers another mode.
      const rows = yield* sql.unsafe("PRAGMA journal_mode = WAL")
      const mode = yield* decodeJournalMode(rows).pipe(
        Effect.mapError((e) => new StateStoreOpenError({ filename, reason: e.message, cause: e }))
      )
      if (mode[0]?.journal_mode !== "wal") {
        return yield* new StateStoreOpenError({ filename, reason: `journal_mode is ${mode[0]?.journal_mode}, not wal` })
      }
    }
  }).pipe(
    Effect.catchTag("SqlError", (cause) => new StateStoreOpenError({ filename, reason: cause.message, cause }))
  )

/** The owner's migrations table (Migrator's `table` option). */
const migrationsTable = (owner: string): string => `migrations_${owner}`

/**
 * Where the runner before the Migrator recorded every owner's migrations (owner, id, name,
 * applied_at). Read, so a state.db it created opens; and kept written (`keepLegacyRows`), so
 * that runner, in a rolled-back binary, does not take a state.db the Migrator created for an
 * empty one: it would run each migration whose row is missing, and fail on the first table
 * that already exists with nothing but "Failed to prepare statement".
 */
const LEGACY_TABLE = "schema_migrations"

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

/**
 * A recorded migration the code does not have: the database is a newer binary's. Checked before
 * the Migrator runs, which would otherwise find nothing above its latest id and carry on.
 */
const newerThanKnown = (
  filename: string,
  owner: string,
  recorded: ReadonlyMap<number, string>,
  migrations: ReadonlyArray<Migration>
): Effect.Effect<void, StateStoreNewerSchemaError> => {
  const known = new Set(migrations.map((m) => m.id))
  const unknown = [...recorded].filter(([id]) => !known.has(id)).sort(([a], [b]) => a - b).map(([id, name]) => ({
    id,
    name
  }))
  return unknown.length === 0 ? Effect.void : Effect.fail(
    new StateStoreNewerSchemaError({ filename, owner, known: Math.max(0, ...known), unknown })
  )
}

/**
 * Keeps the old runner's rows for `owner` true to the schema. While every recorded migration is
 * one it knew, they say so, and a rolled-back binary sees its schema as current and runs on it.
 * Once a later migration is recorded, each id it knew is recorded under a sentence instead of
 * its name: it refuses a recorded id whose name differs, in one line that then says why, and
 * runs nothing (its check comes before any statement of the migration).
 */
const keepLegacyRows = (sql: SqlClient.SqlClient, owner: string, recorded: ReadonlyMap<number, string>) =>
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

const migrateWith =
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
      const ran = yield* runMigrator({
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
      return ran.map(([id]) => id).filter((id) => !before.has(id))
    })

/**
 * A reader's `migrate`: writes nothing, only checks that every migration is recorded. A reader
 * runs beside the writer (the daemon, `apply`), whose own start-up may be migrating right now.
 */
const checkOnlyWith =
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

const open = (filename: string, mode: "write" | "read") =>
  Effect.gen(function*() {
    if (mode === "read") {
      const client = yield* SqliteClient.make({ filename, disableWAL: true }).pipe(
        Effect.catchAllDefect((cause) => new StateStoreOpenError({ filename, reason: String(cause), cause }))
      )
      yield* client.unsafe(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`).pipe(
        Effect.catchTag("SqlError", (cause) => new StateStoreOpenError({ filename, reason: cause.message, cause }))
      )
      const store: StateStoreShape = { filename, sql: client, migrate: checkOnlyWith(client, filename) }
      return Context.make(StateStore, store).pipe(
        Context.add(SqlClient.SqlClient, client),
        Context.add(SqliteClient.SqliteClient, client)
      )
    }
    if (filename !== MEMORY) yield* prepareFile(filename)
    // better-sqlite3 throws from its constructor (unwritable path, not a database): a defect
    // inside SqliteClient.make, turned back into a typed error here.
    const client = yield* SqliteClient.make({ filename }).pipe(
      Effect.catchAllDefect((cause) => new StateStoreOpenError({ filename, reason: String(cause), cause }))
    )
    yield* pragmas(client, filename)
    const store: StateStoreShape = { filename, sql: client, migrate: migrateWith(client, filename) }
    return Context.make(StateStore, store).pipe(
      Context.add(SqlClient.SqlClient, client),
      Context.add(SqliteClient.SqliteClient, client)
    )
  })

export class StateStore extends Context.Tag("felhom/StateStore")<StateStore, StateStoreShape>() {
  /** The database file at `filename` (parent directory created 0700 if missing). */
  static readonly layer = (options: {
    readonly filename: string
    /**
     * "read": for readers beside a writer (journal list/show): no file or directory is created,
     * no schema is written, migrations are only checked. Default "write".
     */
    readonly mode?: "write" | "read"
  }): Layer.Layer<StateStore | SqlClient.SqlClient | SqliteClient.SqliteClient, StateStoreOpenError> =>
    Layer.scopedContext(open(options.filename, options.mode ?? "write")).pipe(Layer.provide(Reactivity.layer))

  /** A private in-memory database, for tests and dry runs; gone when the layer is released. */
  static readonly layerMemory: Layer.Layer<
    StateStore | SqlClient.SqlClient | SqliteClient.SqliteClient,
    StateStoreOpenError
  > = Layer.scopedContext(open(MEMORY, "write")).pipe(Layer.provide(Reactivity.layer))
}
