/**
 * The hub loop's durable state in state.db (owner "hub"): the last good desired envelope, as
 * the exact bytes that verified (it is re-verified with the current signers at every start, so
 * a removed signer also retires the documents it signed), and the ops cursor (the highest seq
 * handed to the op pipeline), so a restart neither replays nor skips the hub's op log.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Effect, Schema } from "effect"
import type { Migration } from "../state/Migration.js"
import { StateStore } from "../state/StateStore.js"
import { HubStoreError } from "./HubError.js"

export const hubMigrations: ReadonlyArray<Migration> = [
  {
    id: 1,
    name: "hub_desired_and_ops_cursor",
    up: Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE hub_desired (
        agent      TEXT PRIMARY KEY NOT NULL,
        envelope   BLOB NOT NULL,
        revision   TEXT NOT NULL,
        issued_at  INTEGER NOT NULL,
        etag       TEXT,
        fetched_at INTEGER NOT NULL
      ) STRICT`
      yield* sql`CREATE TABLE hub_ops_cursor (
        agent     TEXT PRIMARY KEY NOT NULL,
        after_seq INTEGER NOT NULL
      ) STRICT`
    })
  }
]

export interface StoredDesired {
  readonly envelope: Uint8Array
  readonly revision: string
  readonly issuedAt: number
  readonly etag: string | undefined
  /** Epoch milliseconds. */
  readonly fetchedAt: number
}

const DesiredRow = Schema.Struct({
  envelope: Schema.Uint8ArrayFromSelf,
  revision: Schema.String,
  issued_at: Schema.Number,
  etag: Schema.NullOr(Schema.String),
  fetched_at: Schema.Number
})
const decodeDesiredRows = Schema.decodeUnknown(Schema.Array(DesiredRow))
const decodeCursorRows = Schema.decodeUnknown(Schema.Array(Schema.Struct({ after_seq: Schema.Number })))

export interface HubStore {
  readonly loadDesired: Effect.Effect<StoredDesired | undefined, HubStoreError>
  readonly saveDesired: (d: Omit<StoredDesired, "fetchedAt">) => Effect.Effect<void, HubStoreError>
  readonly loadCursor: Effect.Effect<number, HubStoreError>
  readonly saveCursor: (afterSeq: number) => Effect.Effect<void, HubStoreError>
}

const failWith = (operation: string) => (e: { readonly message: string }) =>
  new HubStoreError({ operation, reason: e.message, cause: e })

/** Registers the "hub" migrations, then answers the store for `agent`. */
export const makeHubStore = (agent: string): Effect.Effect<HubStore, HubStoreError, StateStore> =>
  Effect.gen(function*() {
    const store = yield* StateStore
    const sql = store.sql
    yield* store.migrate("hub", hubMigrations).pipe(Effect.mapError(failWith("migrate")))

    const loadDesired = Effect.flatMap(
      sql`SELECT envelope, revision, issued_at, etag, fetched_at FROM hub_desired WHERE agent = ${agent}`,
      decodeDesiredRows
    ).pipe(
      Effect.map((rows) => {
        const row = rows[0]
        return row === undefined ? undefined : {
          envelope: new Uint8Array(row.envelope),
          revision: row.revision,
          issuedAt: row.issued_at,
          etag: row.etag ?? undefined,
          fetchedAt: row.fetched_at
        }
      }),
      Effect.mapError(failWith("load desired"))
    )

    const saveDesired = (d: Omit<StoredDesired, "fetchedAt">) =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (now) =>
          sql`INSERT INTO hub_desired (agent, envelope, revision, issued_at, etag, fetched_at)
            VALUES (${agent}, ${Buffer.from(d.envelope)}, ${d.revision}, ${d.issuedAt}, ${d.etag ?? null}, ${now})
            ON CONFLICT (agent) DO UPDATE SET envelope = excluded.envelope, revision = excluded.revision,
              issued_at = excluded.issued_at, etag = excluded.etag, fetched_at = excluded.fetched_at`
      ).pipe(Effect.asVoid, Effect.mapError(failWith("save desired")))

    const loadCursor = Effect.flatMap(
      sql`SELECT after_seq FROM hub_ops_cursor WHERE agent = ${agent}`,
      decodeCursorRows
    ).pipe(Effect.map((rows) => rows[0]?.after_seq ?? 0), Effect.mapError(failWith("load ops cursor")))

    // Monotonic in SQL too: a late write of an older cursor can never move it back.
    const saveCursor = (afterSeq: number) =>
      sql`INSERT INTO hub_ops_cursor (agent, after_seq) VALUES (${agent}, ${afterSeq})
          ON CONFLICT (agent) DO UPDATE SET after_seq = MAX(after_seq, excluded.after_seq)`
        .pipe(Effect.asVoid, Effect.mapError(failWith("save ops cursor")))

    return { loadDesired, saveDesired, loadCursor, saveCursor }
  })
