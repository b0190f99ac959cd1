/** One writer per state directory: the lock, its message, --wait, and kill -9 releasing it. */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Option, Scope, TestClock } from "effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { HOLDER_FILE, StateLock } from "../../src/state/StateLock.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "felhom-lock-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** Takes the lock inside its own scope, closed by the caller. */
const hold = (stateDir: string, command: string, wait = false) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const lock = yield* Layer.buildWithScope(StateLock.layer({ stateDir, command, wait }), scope)
    return { scope, lock }
  })

describe("StateLock", () => {
  it.scoped("a second writer is refused at once, told the holder's PID and command; released, the lock is free", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const first = yield* hold(dir, "apply")
      const second = yield* Effect.exit(hold(dir, "revert"))
      expect(Exit.isFailure(second)).toBe(true)
      if (Exit.isFailure(second)) {
        const error = second.cause._tag === "Fail" ? second.cause.error : undefined
        expect(error?._tag).toBe("StateDirBusy")
        expect(error?.message).toContain(`in use by PID ${process.pid} (felhom-agent apply, since `)
        expect(error?.message).toContain("--wait")
      }
      yield* Scope.close(first.scope, Exit.void)
      // The holder file is removed with the lock; a new holder writes its own.
      expect(fs.existsSync(path.join(dir, HOLDER_FILE))).toBe(false)
      const third = yield* hold(dir, "revert")
      expect(Context.get(third.lock, StateLock).holder).toMatchObject({ pid: process.pid, command: "revert" })
      expect(JSON.parse(fs.readFileSync(path.join(dir, HOLDER_FILE), "utf8"))).toMatchObject({
        pid: process.pid,
        command: "revert"
      })
      yield* Scope.close(third.scope, Exit.void)
    }))

  it.scoped("creates a missing state directory 0700 and the lock file 0600", () =>
    Effect.gen(function*() {
      const base = yield* tempDir
      const dir = path.join(base, "nested", "state")
      const { scope } = yield* hold(dir, "apply")
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
      expect(fs.statSync(path.join(dir, "state.lock")).mode & 0o777).toBe(0o600)
      yield* Scope.close(scope, Exit.void)
    }))

  it.scoped("--wait waits for the holder, then takes the lock", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const first = yield* hold(dir, "daemon")
      const waiter = yield* Effect.fork(hold(dir, "apply", true))
      // Under the TestClock the waiter retries only when time moves: a second of retries, still busy.
      yield* TestClock.adjust("1 second")
      expect(Option.isNone(yield* Fiber.poll(waiter))).toBe(true)
      yield* Scope.close(first.scope, Exit.void)
      yield* TestClock.adjust("1 second")
      const second = yield* Fiber.join(waiter)
      yield* Scope.close(second.scope, Exit.void)
    }))

  it.scopedLive("kill -9 of the holder releases the lock at once: no stale lock, no PID guessing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const child = yield* Effect.acquireRelease(
        Effect.async<ChildProcess.ChildProcess, Error>((resume) => {
          const c = ChildProcess.spawn(process.execPath, [
            "--import",
            "tsx",
            path.join(import.meta.dirname, "fixtures/holdLock.ts"),
            dir
          ], {
            stdio: ["ignore", "pipe", "inherit"]
          })
          c.stdout.on("data", (d: Buffer) => {
            if (d.toString().includes("LOCKED")) resume(Effect.succeed(c))
          })
          c.on("exit", (code) => resume(Effect.fail(new Error(`holder exited ${code}`))))
        }),
        (c) => Effect.sync(() => c.kill("SIGKILL"))
      )
      const busy = yield* Effect.flip(hold(dir, "apply"))
      expect(busy.message).toContain(`PID ${child.pid} (felhom-agent test-holder`)
      yield* Effect.async<void>((resume) => {
        child.on("exit", () => resume(Effect.void))
        child.kill("SIGKILL")
      })
      const { scope } = yield* hold(dir, "apply")
      yield* Scope.close(scope, Exit.void)
    }))
})
