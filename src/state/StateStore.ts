/**
 * StateStore: the agent's one SQLite database (state.db). It owns the connection, makes the
 * file durable (WAL + synchronous=FULL: NORMAL can lose the last commits on power loss, per
 * SQLite's `PRAGMA synchronous`) and private (0600 file, 0700 directory, docs/architecture.md,
 * invariant 8), and hands each owner's migrations to the runner (MigrationRunner.ts). Upgrades
 * and rollbacks across schema versions: docs/operations.md, "Upgrades, rollbacks and state.db".
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { Context, Data, Effect, Layer, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Migration } from "./Migration.js"
import { checkOnlyWith, migrateWith, type StateStoreMigrateError } from "./MigrationRunner.js"

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
