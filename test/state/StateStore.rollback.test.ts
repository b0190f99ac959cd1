/**
 * Rollbacks across the state.db schema (docs/operations.md, "Upgrades, rollbacks and state.db"):
 * a binary from before the Migrator (played by legacyRunner.ts) opening a state.db this one
 * wrote, and this binary opening one a newer binary wrote.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { hubMigrations, makeHubStore } from "../../src/hub/HubStore.js"
import { Journal } from "../../src/state/Journal.js"
import { journalMigrations } from "../../src/state/JournalMigrations.js"
import type { Migration } from "../../src/state/Migration.js"
import { StateStoreNewerSchemaError } from "../../src/state/NewerSchema.js"
import { nonceMigrations } from "../../src/state/NonceMigrations.js"
import { NonceStore } from "../../src/state/NonceStore.js"
import { StateStore } from "../../src/state/StateStore.js"
import { legacyCheck, legacyMigrate, legacyOpen } from "./legacyRunner.js"
import { intentFor, tempDir } from "./support.js"

/** A raw connection to `filename`, as the older binary opens it. */
const raw = (filename: string) => SqliteClient.layer({ filename }).pipe(Layer.provide(Reactivity.layer))

/** Every table's definition and rows: what "changes nothing" is checked against. */
const snapshot = (filename: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const tables = yield* sql<{ name: string; sql: string }>`SELECT name, sql FROM sqlite_master
      WHERE type = 'table' AND name <> 'sqlite_sequence' ORDER BY name`
    const out: Record<string, unknown> = {}
    for (const t of tables) out[t.name] = { sql: t.sql, rows: yield* sql.unsafe(`SELECT * FROM "${t.name}"`) }
    return out
  }).pipe(Effect.provide(raw(filename)))

/** journal#2 as a newer binary ships it: a column this binary does not know. */
const journalNext: Migration = {
  id: 2,
  name: "add_journal_ops_note",
  up: Effect.flatMap(SqlClient.SqlClient, (sql) => sql`ALTER TABLE journal_ops ADD COLUMN note TEXT`)
}

/** A state.db as this binary leaves it: journal, nonces and hub migrated, one op and one nonce. */
const writeWithThisBinary = (filename: string) =>
  Effect.gen(function*() {
    const journal = yield* Journal
    yield* journal.intent(intentFor({ opId: "op-this-binary" }))
    const nonces = yield* NonceStore
    yield* nonces.admit({ opId: "signed-op-this-binary", seq: 8, agent: "agent-1", expiresAt: 4_000_000_000 })
    const hub = yield* makeHubStore("agent-1")
    yield* hub.saveCursor(8)
  }).pipe(
    Effect.provide(
      Layer.mergeAll(Journal.layer, NonceStore.layer()).pipe(Layer.provideMerge(StateStore.layer({ filename })))
    )
  )

const OWNERS: ReadonlyArray<readonly [string, ReadonlyArray<Migration>]> = [
  ["journal", journalMigrations],
  ["nonces", nonceMigrations],
  ["hub", hubMigrations]
]

describe("a rolled-back binary (the runner before the Migrator) on this binary's state.db", () => {
  it.scoped("sees its schema as current: nothing re-runs, its reader passes, the op and nonce are there", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "state.db")
      yield* writeWithThisBinary(filename)
      const before = yield* snapshot(filename)
      const result = yield* Effect.gen(function*() {
        yield* legacyOpen
        const ran = []
        for (const [owner, migrations] of OWNERS) ran.push(yield* legacyMigrate(owner, migrations))
        const missing = []
        for (const [owner, migrations] of OWNERS) missing.push(yield* legacyCheck(owner, migrations))
        const sql = yield* SqlClient.SqlClient
        const ops = yield* sql`SELECT op_id FROM journal_ops`
        const highWater = yield* sql`SELECT high_water FROM nonce_seq WHERE agent = 'agent-1'`
        return { ran, missing, ops, highWater }
      }).pipe(Effect.provide(raw(filename)))
      expect(result).toEqual({
        ran: [[], [], []],
        missing: [undefined, undefined, undefined],
        ops: [{ op_id: "op-this-binary" }],
        highWater: [{ high_water: 8 }]
      })
      expect(yield* snapshot(filename)).toEqual(before)
    }))

  it.scoped("a state.db from before the Migrator keeps its rows once this binary opened it", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "state.db")
      const dump = fs.readFileSync(path.join(import.meta.dirname, "fixtures", "state-before-migrator.sql"), "utf8")
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        for (const statement of dump.replace(/^--.*$/gm, "").split(/;\s*\n/).map((t) => t.trim())) {
          if (statement !== "") yield* sql.unsafe(statement)
        }
      }).pipe(Effect.provide(raw(filename)))
      yield* writeWithThisBinary(filename)
      const ran = yield* Effect.gen(function*() {
        yield* legacyOpen
        return yield* Effect.forEach(OWNERS, ([owner, migrations]) => legacyMigrate(owner, migrations))
      }).pipe(Effect.provide(raw(filename)))
      expect(ran).toEqual([[], [], []])
    }))

  it.scoped("once a migration it never knew is recorded, it refuses in one line saying why, and changes nothing", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "state.db")
      yield* writeWithThisBinary(filename)
      // The upgrade that brings journal#2 (the binary after this one).
      yield* Effect.flatMap(StateStore, (store) => store.migrate("journal", [...journalMigrations, journalNext])).pipe(
        Effect.provide(StateStore.layer({ filename }))
      )
      const before = yield* snapshot(filename)
      const refused = yield* Effect.gen(function*() {
        yield* legacyOpen
        return yield* legacyMigrate("journal", journalMigrations)
      }).pipe(Effect.provide(raw(filename)), Effect.flip)
      expect(refused.message).toBe(
        "migration journal#1 (create_journal_ops) failed: recorded as \"superseded: state.db records journal#2 " +
          "(add_journal_ops_note) from a newer felhom-agent; run that version, or restore state.db from before the " +
          "upgrade\"; ids must never be reused"
      )
      expect(yield* snapshot(filename)).toEqual(before)
      // The other owners' schema is still the one it knows: their rows stay.
      const nonces = yield* legacyCheck("nonces", nonceMigrations).pipe(Effect.provide(raw(filename)))
      expect(nonces).toBeUndefined()
    }))
})

describe("an upgrade that fails between the migration and the old runner's rows", () => {
  it.scoped("commits neither: the new migration is not recorded, and the old runner's rows stay true", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "state.db")
      yield* writeWithThisBinary(filename)
      // A failed write of the old runner's rows (a full disk, a crash) after the migration ran.
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql.unsafe(
          "CREATE TRIGGER fail_legacy BEFORE INSERT ON schema_migrations BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        )).pipe(Effect.provide(raw(filename)))
      const before = yield* snapshot(filename)
      const failed = yield* Effect.flatMap(
        StateStore,
        (store) => store.migrate("journal", [...journalMigrations, journalNext])
      ).pipe(Effect.provide(StateStore.layer({ filename })), Effect.flip)
      expect(failed.message).toBe(
        "migrations of journal failed: cannot keep the old runner's records: Failed to execute statement"
      )
      // Nothing of the upgrade is left: no journal#2, no new column, the rows as they were.
      expect(yield* snapshot(filename)).toEqual(before)
    }))
})

describe("this binary on a newer binary's state.db", () => {
  it.scoped("refuses with a typed error naming the versions; nothing runs, nothing is written", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "state.db")
      yield* writeWithThisBinary(filename)
      yield* Effect.flatMap(StateStore, (store) => store.migrate("journal", [...journalMigrations, journalNext])).pipe(
        Effect.provide(StateStore.layer({ filename }))
      )
      const before = yield* snapshot(filename)
      for (const mode of ["write", "read"] as const) {
        const refused = yield* Effect.flatMap(StateStore, (store) => store.migrate("journal", journalMigrations)).pipe(
          Effect.provide(StateStore.layer({ filename, mode })),
          Effect.flip
        )
        expect(refused).toBeInstanceOf(StateStoreNewerSchemaError)
        expect(refused).toMatchObject({
          _tag: "StateStoreNewerSchemaError",
          owner: "journal",
          known: 1,
          unknown: [{ id: 2, name: "add_journal_ops_note" }]
        })
        expect(refused.message).toBe(
          `state database ${filename} was written by a newer felhom-agent: it records migration journal#2 ` +
            `(add_journal_ops_note), this binary knows journal up to #1; run that version again, or restore ` +
            `state.db from before the upgrade (docs/operations.md, "Upgrades, rollbacks and state.db")`
        )
      }
      // Through the journal, as the daemon and the CLI open it: the same words, the typed cause kept.
      const journal = yield* Effect.flip(
        Effect.provide(Journal, Journal.layer.pipe(Layer.provide(StateStore.layer({ filename }))))
      )
      expect(journal.message).toContain("journal#2 (add_journal_ops_note), this binary knows journal up to #1")
      expect(journal.message).not.toContain("\n")
      expect(Option.some(journal.cause)).toEqual(Option.some(expect.any(StateStoreNewerSchemaError)))
      expect(yield* snapshot(filename)).toEqual(before)
    }))

  it.scoped("an owner this binary knows nothing of yet is left alone", () =>
    Effect.gen(function*() {
      const store = yield* StateStore
      yield* store.migrate("things", [{ id: 1, name: "create_things", up: Effect.void }])
      expect(yield* store.migrate("journal", journalMigrations)).toEqual([1])
    }).pipe(Effect.provide(StateStore.layerMemory)))
})
