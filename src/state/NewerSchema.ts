/**
 * Rollback onto a newer schema: a binary that has the Migrator refuses a state.db recording a
 * migration it does not know, before anything runs (docs/operations.md, "Upgrades, rollbacks
 * and state.db"). The Migrator would not: it finds nothing above its latest id and carries on.
 */
import { Data, Effect } from "effect"
import type { Migration } from "./Migration.js"

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

/**
 * A recorded migration the code does not have: the database is a newer binary's. Checked before
 * the Migrator runs, which would otherwise find nothing above its latest id and carry on.
 */
export const newerThanKnown = (
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
