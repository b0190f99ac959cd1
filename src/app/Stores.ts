/**
 * The state directory's stores, built one way for every process: `state.db` with the op
 * journal and the nonce store over it. A writer — the daemon, `apply`, `revert`, `op submit`,
 * `selftest` — takes the directory's lock before it opens the database (state/StateLock.ts),
 * so its start-up recovery can never take another live process's op for a crash leftover. A
 * reader (`journal list/show`) takes no lock.
 */
import { Layer } from "effect"
import * as path from "node:path"
import { Journal } from "../state/Journal.js"
import { NonceStore, type NonceStoreOptions } from "../state/NonceStore.js"
import { StateLock } from "../state/StateLock.js"
import { StateStore } from "../state/StateStore.js"

export const DEFAULT_STATE_DIR = "/var/lib/felhom-agent"

export const stateDbPath = (stateDir: string): string => path.join(stateDir, "state.db")

export interface StoresOptions {
  readonly stateDir: string
  /** A writer names itself (the holder a second writer is told about) and may wait for the lock. */
  readonly writer?: { readonly command: string; readonly wait?: boolean }
  readonly nonces?: NonceStoreOptions
}

export const StoresLive = (options: StoresOptions) => {
  const db = StateStore.layer({ filename: stateDbPath(options.stateDir) })
  const owned = options.writer === undefined
    ? db
    : db.pipe(Layer.provideMerge(StateLock.layer({ stateDir: options.stateDir, ...options.writer })))
  return Layer.mergeAll(Journal.layer, NonceStore.layer(options.nonces)).pipe(Layer.provideMerge(owned))
}
