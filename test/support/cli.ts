/**
 * Runs the real CLI as a child process, the way an operator does: the bundle `dist/main.js`
 * (what bin/felhom-agent.js runs) under plain node, built from the sources by vitest's
 * globalSetup (test/support/buildBundle.ts).
 */
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"

export const ROOT = Path.resolve(import.meta.dirname, "../..")
/** The CLI's entry: spawn `node MAIN ARGS…`. */
export const MAIN = Path.join(ROOT, "dist/main.js")

export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  /** Milliseconds before the child is sent SIGTERM (its `code` is then null); none by default. */
  readonly timeout?: number
  /** Told of the child's stderr so far, each time more arrives. */
  readonly onStderr?: (stderr: string) => void
  /** Working directory (default: the repository), for commands that write relative paths. */
  readonly cwd?: string
}

/** `felhom-agent ARGS…`, to completion. */
export const runCli = (
  args: ReadonlyArray<string>,
  env: Record<string, string> = {},
  options: RunOptions = {}
): Effect.Effect<CliResult> =>
  Effect.async<CliResult>((resume) => {
    const child = ChildProcess.spawn(process.execPath, [MAIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    const timer = options.timeout === undefined ? undefined : setTimeout(() => child.kill("SIGTERM"), options.timeout)
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString()
      options.onStderr?.(stderr)
    })
    child.on("close", (code) => {
      clearTimeout(timer)
      resume(Effect.succeed({ code, stdout, stderr }))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      child.kill("SIGKILL")
    })
  })

/** A long-running `felhom-agent ARGS…`, killed when the scope closes; resolves once stdout matches `ready`. */
export const spawnCli = (args: ReadonlyArray<string>, ready: RegExp) =>
  Effect.acquireRelease(
    Effect.async<{ readonly child: ChildProcess.ChildProcess; readonly output: () => string }, Error>((resume) => {
      const child = ChildProcess.spawn(process.execPath, [MAIN, ...args], {
        cwd: ROOT,
        env: { ...process.env, NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let out = ""
      let done = false
      const output = () => out
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString()
        if (!done && ready.test(out)) {
          done = true
          resume(Effect.succeed({ child, output }))
        }
      })
      child.stderr.on("data", (d: Buffer) => {
        out += d.toString()
      })
      child.on("exit", (code) => {
        if (!done) {
          done = true
          resume(Effect.fail(new Error(`exited ${code} before ready: ${out}`)))
        }
      })
    }),
    ({ child }) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGTERM")
      })
  )
