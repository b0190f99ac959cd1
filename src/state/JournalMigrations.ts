/**
 * The journal's tables, registered with StateStore under the owner "journal". Append new
 * migrations with the next id; never edit or renumber a shipped one (StateStore refuses a
 * recorded id whose name changed). Other stores (NonceStore…) register under their own owner.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import type { Migration } from "./Migration.js"

export const journalMigrations: ReadonlyArray<Migration> = [
  {
    id: 1,
    name: "create_journal_ops",
    up: Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      // The CHECK on token_user is a second line behind the TokenUser schema: a value with
      // `=` is the shape of `user@realm!tokenid=<secret>` and must never reach the disk.
      yield* sql`CREATE TABLE journal_ops (
        op_id       TEXT PRIMARY KEY NOT NULL,
        origin      TEXT NOT NULL CHECK (origin IN ('planned', 'signed')),
        vmid        INTEGER NOT NULL,
        node        TEXT NOT NULL,
        guest_type  TEXT NOT NULL CHECK (guest_type IN ('qemu', 'lxc')),
        action      TEXT NOT NULL,
        params      TEXT NOT NULL,
        params_hash TEXT NOT NULL,
        pre_state   TEXT NOT NULL,
        pre_digest  TEXT,
        inverse     TEXT,
        token_user  TEXT NOT NULL CHECK (instr(token_user, '=') = 0),
        intent_at   INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        attempt     INTEGER NOT NULL DEFAULT 1,
        phase       TEXT NOT NULL CHECK (phase IN ('intent', 'in-flight', 'done', 'failed', 'needs-operator')),
        upid        TEXT,
        detail      TEXT
      ) STRICT`
      yield* sql`CREATE INDEX journal_ops_unfinished ON journal_ops (intent_at)
        WHERE phase IN ('intent', 'in-flight')`
      yield* sql`CREATE INDEX journal_ops_vmid ON journal_ops (vmid, intent_at)`
      yield* sql`CREATE TABLE journal_phases (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,
        op_id  TEXT NOT NULL REFERENCES journal_ops (op_id) ON DELETE CASCADE,
        phase  TEXT NOT NULL,
        at     INTEGER NOT NULL,
        upid   TEXT,
        detail TEXT
      ) STRICT`
      yield* sql`CREATE INDEX journal_phases_op ON journal_phases (op_id, seq)`
    })
  }
]
