/**
 * The nonce store's tables, registered with StateStore under the owner "nonces". Append new
 * migrations with the next id; never edit or renumber a shipped one.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import type { Migration } from "./Migration.js"

export const nonceMigrations: ReadonlyArray<Migration> = [
  {
    id: 1,
    name: "create_nonces",
    up: Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      // keep_until = exp + skew (epoch seconds): until then the verifier could still accept
      // the op, so the entry must exist to refuse its replay.
      yield* sql`CREATE TABLE nonces (
        op_id       TEXT PRIMARY KEY NOT NULL,
        agent       TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        keep_until  INTEGER NOT NULL,
        admitted_at INTEGER NOT NULL
      ) STRICT`
      yield* sql`CREATE INDEX nonces_keep_until ON nonces (keep_until)`
      // The high-water mark outlives every nonce: a purged op must still lose to a newer seq
      // (TUF's rollback lesson, go-tuf CVE-2022-29173: persist the mark, check before storing).
      yield* sql`CREATE TABLE nonce_seq (
        agent      TEXT PRIMARY KEY NOT NULL,
        high_water INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT`
    })
  }
]
