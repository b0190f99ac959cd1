/**
 * The state directory's stores, built one way for every process: `state.db` with the op
 * journal and the nonce store over it. A writer — the daemon, `apply`, `revert`, `op submit`,
 * `selftest` — takes the directory's lock before it opens the database (state/StateLock.ts),
 * so its start-up recovery can never take another live process's op for a crash leftover. A
 * reader (`journal list/show`) takes no lock.
 */
import { Data, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Journal } from "../state/Journal.js"
import { NonceStore, type NonceStoreOptions } from "../state/NonceStore.js"
import { type StateDirBusy, StateLock, type StateLockError } from "../state/StateLock.js"
import { StateStore } from "../state/StateStore.js"

export { DEFAULT_STATE_DIR } from "../config/settings.js"

export const stateDbPath = (stateDir: string): string => path.join(stateDir, "state.db")

export interface StoresOptions {
  readonly stateDir: string
  /** A writer names itself (the holder a second writer is told about) and may wait for the lock. */
  readonly writer?: { readonly command: string; readonly wait?: boolean }
  readonly nonces?: NonceStoreOptions
}

/** A reader was pointed at a state directory that holds no database: it never creates one. */
export class StateDbMissing extends Data.TaggedError("StateDbMissing")<{ readonly stateDir: string }> {
  override get message(): string {
    return `no state database in ${this.stateDir} (nothing has run with this state directory; check --state-dir or FELHOM_STATE_DIR)`
  }
}

export const StoresLive = (options: StoresOptions) => {
  const filename = stateDbPath(options.stateDir)
  const db = StateStore.layer({ filename, mode: options.writer === undefined ? "read" : "write" })
  const owned: Layer.Layer<
    Layer.Layer.Success<typeof db>,
    Layer.Layer.Error<typeof db> | StateDbMissing | StateDirBusy | StateLockError
  > = options.writer === undefined
    ? Layer.unwrapEffect(
      Effect.suspend(() =>
        fs.existsSync(filename) ? Effect.succeed(db) : Effect.fail(new StateDbMissing({ stateDir: options.stateDir }))
      )
    )
    // The lock is built first and held for as long as the database is open.
    : db.pipe(Layer.provide(StateLock.layer({ stateDir: options.stateDir, ...options.writer })))
  return Layer.mergeAll(Journal.layer, NonceStore.layer(options.nonces)).pipe(Layer.provideMerge(owned))
}
