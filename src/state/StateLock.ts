/**
 * StateLock: one writer per state directory. Every process that writes the journal or runs
 * recovery (the daemon, `apply`, `revert`, `op submit`, `selftest`) holds it for as long as it
 * runs; read-only commands never take it. Without it, a second process's start-up recovery
 * takes a live process's in-flight op for a crash leftover and rewrites its record.
 *
 * The lock is SQLite's own: an open `BEGIN EXCLUSIVE` transaction on `state.lock`, i.e. a POSIX
 * record lock (fcntl) that the kernel drops when the process dies — kill -9 never leaves a
 * stale lock, and no PID is ever guessed. SQLite also keeps connections of one process from
 * sharing the lock, so two agents built in one process exclude each other too.
 *
 * Who holds it is written beside it (`state.lock.holder`: PID, command, since) for the message
 * a second writer prints. That file is information only; the lock alone decides.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Clock, Context, Data, Duration, Effect, Exit, Layer, Option, Schedule, Schema, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { isProcessAlive } from "../os/processes.js"

export const Holder = Schema.Struct({
  pid: Schema.Int,
  command: Schema.String,
  /** Epoch milliseconds. */
  since: Schema.Number
})
export type Holder = typeof Holder.Type

/** Another live process holds the state directory. */
export class StateDirBusy extends Data.TaggedError("StateDirBusy")<{
  readonly stateDir: string
  readonly holder: Option.Option<Holder>
}> {
  override get message(): string {
    const who = Option.match(this.holder, {
      onNone: () => "another process",
      onSome: (h) => `PID ${h.pid} (felhom-agent ${h.command}, since ${new Date(h.since).toISOString()})`
    })
    return `state directory ${this.stateDir} is in use by ${who}; wait for it to finish, or pass --wait`
  }
}

/** The lock file could not be created or opened (permissions, not a directory…). */
export class StateLockError extends Data.TaggedError("StateLockError")<{
  readonly stateDir: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot lock state directory ${this.stateDir}: ${this.reason}`
  }
}

export interface StateLockOptions {
  readonly stateDir: string
  /** What holds it, as a second writer is told (e.g. "apply", "daemon"). */
  readonly command: string
  /** Wait for the holder to finish instead of failing at once. */
  readonly wait?: boolean
  /** How often a waiting process tries again (default 200 ms). */
  readonly pollInterval?: Duration.DurationInput
}

export class StateLock extends Context.Tag("felhom/StateLock")<StateLock, {
  readonly stateDir: string
  readonly holder: Holder
}>() {
  static readonly layer = (options: StateLockOptions): Layer.Layer<StateLock, StateDirBusy | StateLockError> =>
    Layer.scoped(StateLock, acquire(options))
}

export const LOCK_FILE = "state.lock"
export const HOLDER_FILE = "state.lock.holder"

const decodeHolder = Schema.decodeUnknownOption(Schema.parseJson(Holder))

/** Who the holder file names, if it names a process that is alive. */
export const readHolder = (stateDir: string): Option.Option<Holder> => {
  let text: string
  try {
    text = fs.readFileSync(path.join(stateDir, HOLDER_FILE), "utf8")
  } catch {
    return Option.none()
  }
  return Option.filter(decodeHolder(text), (h) => isProcessAlive(h.pid))
}

const isBusy = (cause: unknown): boolean =>
  typeof cause === "object" && cause !== null && "code" in cause &&
  (cause.code === "SQLITE_BUSY" || cause.code === "SQLITE_LOCKED")

/** The directory (0700) and the lock file (0600), created when missing. */
const prepare = (stateDir: string) =>
  Effect.try({
    try: () => {
      if (!fs.existsSync(stateDir)) {
        fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 })
        fs.chmodSync(stateDir, 0o700) // mkdir's mode is filtered by the umask
      }
      fs.closeSync(fs.openSync(path.join(stateDir, LOCK_FILE), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600))
    },
    catch: (e) => new StateLockError({ stateDir, reason: e instanceof Error ? e.message : String(e) })
  })

/** One try: the lock inside its own scope, closed again at once if the lock is taken. */
const tryOnce = (stateDir: string) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const opened = Effect.gen(function*() {
      const client = yield* SqliteClient.make({ filename: path.join(stateDir, LOCK_FILE), disableWAL: true }).pipe(
        Effect.catchAllDefect((e) => new StateLockError({ stateDir, reason: String(e) }))
      )
      yield* client.unsafe("PRAGMA busy_timeout = 0")
      // The transaction never writes: no rollback journal file beside the lock.
      yield* client.unsafe("PRAGMA journal_mode = MEMORY")
      // Held until the connection closes (release, or the process's death).
      yield* client.unsafe("BEGIN EXCLUSIVE")
    }).pipe(
      Effect.catchTag("SqlError", (e): Effect.Effect<never, StateDirBusy | StateLockError> =>
        isBusy(e.cause)
          ? Effect.fail(new StateDirBusy({ stateDir, holder: readHolder(stateDir) }))
          : Effect.fail(new StateLockError({ stateDir, reason: e.message }))),
      Effect.provide(Reactivity.layer)
    )
    const exit = yield* Effect.exit(Scope.extend(opened, scope))
    if (Exit.isFailure(exit)) {
      yield* Scope.close(scope, exit)
      return yield* Effect.failCause(exit.cause)
    }
    return scope
  })

/** Written after the lock is ours; replaced atomically so a reader never sees half of it. */
const writeHolder = (stateDir: string, holder: Holder) =>
  Effect.try({
    try: () => {
      const target = path.join(stateDir, HOLDER_FILE)
      const temp = `${target}.${process.pid}`
      fs.writeFileSync(temp, JSON.stringify(holder), { mode: 0o600 })
      fs.renameSync(temp, target)
    },
    catch: (e) =>
      new StateLockError({
        stateDir,
        reason: `cannot write ${HOLDER_FILE}: ${e instanceof Error ? e.message : String(e)}`
      })
  })

const removeHolder = (stateDir: string, pid: number) =>
  Effect.sync(() => {
    // Only our own record: the next holder may already have written its own.
    if (Option.exists(readHolder(stateDir), (h) => h.pid === pid)) {
      fs.rmSync(path.join(stateDir, HOLDER_FILE), { force: true })
    }
  })

const acquire = (options: StateLockOptions) =>
  Effect.gen(function*() {
    const stateDir = path.resolve(options.stateDir)
    yield* prepare(stateDir)
    const once = tryOnce(stateDir)
    const retryWhileBusy = Effect.retry(once, {
      while: (e) => e._tag === "StateDirBusy",
      schedule: Schedule.spaced(options.pollInterval ?? Duration.millis(200))
    })
    yield* Effect.acquireRelease(
      options.wait === true
        ? once.pipe(
          Effect.catchTag(
            "StateDirBusy",
            (e) => Effect.zipRight(Effect.logInfo(`waiting: ${e.message}`), retryWhileBusy)
          )
        )
        : once,
      (scope) => Scope.close(scope, Exit.void)
    )
    const holder: Holder = { pid: process.pid, command: options.command, since: yield* Clock.currentTimeMillis }
    yield* writeHolder(stateDir, holder)
    // Runs before the lock's own release (finalizers run in reverse order).
    yield* Effect.addFinalizer(() => removeHolder(stateDir, holder.pid))
    return { stateDir, holder }
  })
