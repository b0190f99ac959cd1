import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Migration, StateStore } from "../../src/state/StateStore.js"
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
      yield* Effect.scoped(Effect.flatMap(StateStore, (store) => store.migrate("things", counterMigrations(log))).pipe(
        Effect.provide(StateStore.layer({ filename }))
      ))
      const applied = yield* Effect.scoped(Effect.flatMap(StateStore, (store) => store.migrate("things", counterMigrations(log))).pipe(
        Effect.provide(StateStore.layer({ filename, mode: "read" }))
      ))
      expect(applied).toEqual([])
      expect(log).toEqual(["create_things", "add_note"])
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
