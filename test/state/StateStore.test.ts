import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeHubStore } from "../../src/hub/HubStore.js"
import { Journal } from "../../src/state/Journal.js"
import { journalMigrations } from "../../src/state/JournalMigrations.js"
import type { Migration } from "../../src/state/Migration.js"
import { NonceStore } from "../../src/state/NonceStore.js"
import { StateStore } from "../../src/state/StateStore.js"
import { mode, tempDir } from "./support.js"

const counterMigrations = (log: Array<string>): ReadonlyArray<Migration> => [
  {
    id: 1,
    name: "create_things",
    up: Effect.gen(function*() {
      log.push("create_things")
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL) STRICT`
    })
  },
  {
    id: 2,
    name: "add_note",
    up: Effect.gen(function*() {
      log.push("add_note")
      const sql = yield* SqlClient.SqlClient
      yield* sql`ALTER TABLE things ADD COLUMN note TEXT`
    })
  }
]

const Pragma = Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number) }))
const pragma = (name: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* Schema.decodeUnknown(Pragma)(yield* sql.unsafe(`PRAGMA ${name}`))
    // busy_timeout answers in a column named "timeout": take the row's only value.
    return Object.values(rows[0] ?? {})[0]
  })

/** Creates `filename` from the SQL dump of a state.db written before the Migrator, as that code left it. */
const createFromDump = (filename: string) =>
  Effect.scoped(
    Effect.gen(function*() {
      const dump = fs.readFileSync(path.join(import.meta.dirname, "fixtures", "state-before-migrator.sql"), "utf8")
      const sql = yield* SqliteClient.make({ filename })
      const statements = dump.replace(/^--.*$/gm, "").split(/;\s*\n/).map((t) => t.trim()).filter((t) => t !== "")
      for (const statement of statements) yield* sql.unsafe(statement)
    }).pipe(Effect.provide(Reactivity.layer))
  )

const tables = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    Effect.map(
      sql`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`,
      (rows) => rows.map((r) => r["name"])
    )
)

describe("StateStore in read mode (readers beside a writer)", () => {
  it.scoped("writes nothing: a migration not yet applied is an error, never applied by the reader", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "state.db")
      const log: Array<string> = []
      // A writer that has created the database but not yet migrated "things".
      yield* Effect.scoped(Layer.build(StateStore.layer({ filename })))
      const reader = yield* Effect.flip(Effect.scoped(
        Effect.flatMap(StateStore, (store) => store.migrate("things", counterMigrations(log))).pipe(
          Effect.provide(StateStore.layer({ filename, mode: "read" }))
        )
      ))
      expect(reader.message).toContain("not applied yet")
      expect(log).toEqual([])
      // Once the writer migrated, the reader's check passes and applies nothing.
      yield* Effect.scoped(
        Effect.flatMap(StateStore, (store) => store.migrate("things", counterMigrations(log))).pipe(
          Effect.provide(StateStore.layer({ filename }))
        )
      )
      const applied = yield* Effect.scoped(
        Effect.flatMap(StateStore, (store) => store.migrate("things", counterMigrations(log))).pipe(
          Effect.provide(StateStore.layer({ filename, mode: "read" }))
        )
      )
      expect(applied).toEqual([])
      expect(log).toEqual(["create_things", "add_note"])
    }))
})

describe("a state.db written before the Migrator", () => {
  it.scoped("opens: its recorded migrations are recognised, none re-runs, and its ops, nonces and cursor stay", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "state.db")
      yield* createFromDump(filename)
      const stores = Layer.mergeAll(Journal.layer, NonceStore.layer()).pipe(
        Layer.provideMerge(StateStore.layer({ filename }))
      )
      yield* Effect.gen(function*() {
        // A re-run would fail on its CREATE TABLE; building the layers ran every owner's migrate.
        const journal = yield* Journal
        expect(Option.map(yield* journal.get("op-before-migrator"), (op) => op.phase)).toEqual(Option.some("intent"))
        const nonces = yield* NonceStore
        expect(yield* nonces.highWater("agent-1")).toBe(7)
        const replay = yield* Effect.flip(
          nonces.admit({ opId: "signed-op-1", seq: 8, agent: "agent-1", expiresAt: 4_000_000_000 })
        )
        expect(replay._tag).toBe("OpReplayed")
        const hub = yield* makeHubStore("agent-1")
        expect(yield* hub.loadCursor).toBe(7)
        const store = yield* StateStore
        expect(yield* store.migrate("journal", journalMigrations)).toEqual([])
        const recorded = yield* store.sql`SELECT migration_id, name FROM migrations_journal`
        expect(recorded).toEqual([{ migration_id: 1, name: "create_journal_ops" }])
        expect(yield* tables).toEqual(
          expect.arrayContaining(["migrations_hub", "migrations_journal", "migrations_nonces", "schema_migrations"])
        )
      }).pipe(Effect.provide(stores))
    }))

  it.scoped("a reader reads it before any writer has opened it, and writes nothing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "state.db")
      yield* createFromDump(filename)
      const before = yield* Effect.provide(tables, StateStore.layer({ filename, mode: "read" }))
      const ops = yield* Effect.flatMap(Journal, (journal) => journal.list()).pipe(
        Effect.provide(Journal.layer.pipe(Layer.provideMerge(StateStore.layer({ filename, mode: "read" }))))
      )
      expect(ops.map((op) => op.opId)).toEqual(["op-before-migrator"])
      expect(yield* Effect.provide(tables, StateStore.layer({ filename, mode: "read" }))).toEqual(before)
      expect(before).not.toContain("migrations_journal")
    }))
})

describe("StateStore", () => {
  it.scoped("migrations apply once and nothing re-runs when the file is reopened", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "state.db")
      const log: Array<string> = []
      const migrateAndInsert = Effect.gen(function*() {
        const store = yield* StateStore
        const applied = yield* store.migrate("things", counterMigrations(log))
        yield* store.sql`INSERT INTO things (name, note) VALUES ('a', 'n')`
        return applied
      })
      const first = yield* Effect.provide(migrateAndInsert, StateStore.layer({ filename }))
      const second = yield* Effect.provide(migrateAndInsert, StateStore.layer({ filename }))
      expect(first).toEqual([1, 2])
      expect(second).toEqual([])
      expect(log).toEqual(["create_things", "add_note"])
      const count = yield* Effect.provide(
        Effect.flatMap(StateStore, (s) => s.sql`SELECT count(*) AS n FROM things`),
        StateStore.layer({ filename })
      )
      expect(count).toEqual([{ n: 2 }])
    }))

  it.scoped("a later owner adds its own migrations beside existing ones", () =>
    Effect.gen(function*() {
      const store = yield* StateStore
      yield* store.migrate("things", counterMigrations([]))
      const other = yield* store.migrate("nonces", [{
        id: 1,
        name: "create_nonces",
        up: Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE nonces (id TEXT PRIMARY KEY) STRICT`)
      }])
      expect(other).toEqual([1])
    }).pipe(Effect.provide(StateStore.layerMemory)))

  it.scoped("a failing migration is a typed error, leaves nothing behind and runs again next time", () =>
    Effect.gen(function*() {
      const store = yield* StateStore
      const broken: Migration = {
        id: 1,
        name: "create_things",
        up: Effect.flatMap(
          SqlClient.SqlClient,
          (sql) =>
            Effect.zipRight(
              sql`CREATE TABLE things (id INTEGER PRIMARY KEY) STRICT`,
              sql`INSERT INTO nowhere VALUES (1)`
            )
        )
      }
      const failed = yield* Effect.flip(store.migrate("things", [broken]))
      expect(failed).toMatchObject({ _tag: "StateStoreMigrationError", owner: "things", id: 1, name: "create_things" })
      expect(failed.cause).toMatchObject({ _tag: "SqlError" })
      // All of it rolled back, the Migrator's own table too: one transaction (MigrationRunner.ts).
      expect(yield* tables).not.toContain("things")
      expect(yield* tables).not.toContain("migrations_things")
      expect(yield* store.migrate("things", counterMigrations([]))).toEqual([1, 2])
    }).pipe(Effect.provide(StateStore.layerMemory)))

  it.scoped("a migration inserted below one already applied is refused, never skipped", () =>
    Effect.gen(function*() {
      const store = yield* StateStore
      const [first, second] = counterMigrations([])
      if (first === undefined || second === undefined) return yield* Effect.die("two migrations expected")
      yield* store.migrate("things", [first, { ...second, id: 3 }])
      const inserted = yield* Effect.flip(store.migrate("things", [first, second, { ...second, id: 3 }]))
      expect(inserted).toMatchObject({ _tag: "StateStoreMigrationError", id: 2, reason: "not applied" })
    }).pipe(Effect.provide(StateStore.layerMemory)))

  it.scoped("a recorded migration id with another name is refused", () =>
    Effect.gen(function*() {
      const store = yield* StateStore
      yield* store.migrate("things", counterMigrations([]))
      const renamed = yield* store.migrate("things", [{ id: 1, name: "renamed", up: Effect.void }]).pipe(Effect.flip)
      expect(renamed._tag).toBe("StateStoreMigrationError")
    }).pipe(Effect.provide(StateStore.layerMemory)))

  it.scoped("the file database runs WAL, synchronous=FULL, foreign keys and a busy timeout", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const layer = StateStore.layer({ filename: path.join(dir, "state.db") })
      const values = yield* Effect.provide(
        Effect.all([pragma("journal_mode"), pragma("synchronous"), pragma("foreign_keys"), pragma("busy_timeout")]),
        layer
      )
      expect(values).toEqual(["wal", 2, 1, 5000])
    }))

  it.scoped("database, WAL and shm files are 0600 and a created parent directory 0700", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const parent = path.join(dir, "var", "felhom")
      const filename = path.join(parent, "state.db")
      // A wide-open umask: the modes must come from the code, not from the environment.
      const oldUmask = process.umask(0o000)
      yield* Effect.addFinalizer(() => Effect.sync(() => process.umask(oldUmask)))
      yield* Effect.scoped(Effect.gen(function*() {
        const ctx = yield* Layer.build(StateStore.layer({ filename }))
        const sql = yield* Effect.provide(SqlClient.SqlClient, ctx)
        yield* sql`CREATE TABLE IF NOT EXISTS t (x INTEGER) STRICT`
        yield* sql`INSERT INTO t (x) VALUES (1)`
        // While the connection is open the WAL and shm files exist: check them now.
        expect(fs.existsSync(`${filename}-wal`)).toBe(true)
        expect(mode(`${filename}-wal`)).toBe(0o600)
        expect(mode(`${filename}-shm`)).toBe(0o600)
      }))
      expect(mode(filename)).toBe(0o600)
      expect(mode(parent)).toBe(0o700)
    }))

  it.scoped("an existing group-readable database file is tightened to 0600", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "state.db")
      fs.writeFileSync(filename, "", { mode: 0o644 })
      fs.chmodSync(filename, 0o644)
      yield* Effect.scoped(Layer.build(StateStore.layer({ filename })))
      expect(mode(filename)).toBe(0o600)
    }))

  it.scoped("an unopenable path is a typed StateStoreOpenError", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const error = yield* Effect.scoped(Layer.build(StateStore.layer({ filename: dir }))).pipe(Effect.flip)
      expect(error._tag).toBe("StateStoreOpenError")
    }))
})
