/**
 * One owner's numbered schema change, as every store (journal, nonces, hub) declares its own,
 * and the error that names the one that failed. Its own module because the runner
 * (MigrationRunner.ts) and the rollback guards (LegacySchemaMigrations.ts, NewerSchema.ts) all
 * speak of it.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Data, type Effect } from "effect"

export interface Migration {
  /** Positive and increasing within one owner; never reused or renumbered once shipped. */
  readonly id: number
  readonly name: string
  readonly up: Effect.Effect<unknown, SqlError, SqlClient.SqlClient>
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
