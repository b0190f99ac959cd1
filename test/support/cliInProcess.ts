/**
 * Runs a CLI command in this process, as `main` does (src/cli/run.ts `runCommand`), with the
 * edges swapped: the environment is exactly `env` (commands read it through Effect's Config),
 * stdout and stderr are captured (the console commands print through, and the lines of every
 * logger, the daemon's included: daemon/Logging.ts `currentLineSink`), stdout is not a
 * terminal. Answers in the shape of the process runner (support/cli.ts), so a test says what it
 * runs, not how. What only a real process shows (signals, pipes, the bundle, kill -9) stays in
 * the `*.process.test.ts` files.
 */
import { NodeContext } from "@effect/platform-node"
import { Cause, ConfigProvider, type Console, Effect, Exit, Fiber, Option } from "effect"
import { cli } from "../../src/cli/root.js"
import { runCommand } from "../../src/cli/run.js"
import { currentLineSink, Logging } from "../../src/daemon/Logging.js"
import type { CliResult } from "./cli.js"

const capturingConsole = (
  base: Console.Console,
  out: (text: string) => void,
  err: (text: string) => void
): Console.Console => {
  const line = (sink: (text: string) => void) => (...args: ReadonlyArray<unknown>) =>
    Effect.sync(() => sink(`${args.map(String).join(" ")}\n`))
  const unsafe = (sink: (text: string) => void) => (...args: ReadonlyArray<unknown>) => {
    sink(`${args.map(String).join(" ")}\n`)
  }
  return {
    ...base,
    log: line(out),
    info: line(out),
    debug: line(out),
    error: line(err),
    warn: line(err),
    unsafe: { ...base.unsafe, log: unsafe(out), info: unsafe(out), error: unsafe(err), warn: unsafe(err) }
  }
}

/** A command running in this process (e.g. `daemon`, `sim`), until it ends or is stopped. */
export interface RunningCommand {
  readonly stdout: () => string
  readonly stderr: () => string
  /** stdout and stderr, interleaved as they were written. */
  readonly output: () => string
  /** Its result once it ends; a stop (as SIGTERM: runMain interrupts) ends with its exit code, 0. */
  readonly result: Effect.Effect<CliResult>
  readonly hasEnded: () => boolean
  /** What SIGTERM does to the process: interrupts the command and waits for its finalizers. */
  readonly stop: Effect.Effect<CliResult>
}

const start = (args: ReadonlyArray<string>, env: Record<string, string>): Effect.Effect<RunningCommand> =>
  Effect.gen(function*() {
    let stdout = ""
    let stderr = ""
    let output = ""
    const out = (text: string) => {
      stdout += text
      output += text
    }
    const err = (text: string) => {
      stderr += text
      output += text
    }
    const program = runCommand(cli(["node", "felhom-agent", ...args]), { isTTY: false, columns: undefined, env }).pipe(
      (p) => Effect.consoleWith((base) => Effect.withConsole(p, capturingConsole(base, out, err))),
      Effect.provide(Logging.layer({ format: "logfmt", journald: false, env })),
      Effect.locally(currentLineSink, Option.some((line: string) => err(`${line}\n`))),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
      Effect.provide(NodeContext.layer)
    )
    // Interruptible even when started from an acquire (uninterruptible, and a fork inherits that):
    // a process is always interruptible by SIGTERM.
    const fiber = yield* Effect.forkDaemon(Effect.interruptible(program))
    const resultOf = (exit: Exit.Exit<number>): CliResult => ({
      // As the process's teardown (daemon/Logging.ts) decides: interrupted only is how runMain
      // ends on SIGTERM, exit 0; anything else that went wrong on the way out, exit 1.
      code: Exit.isSuccess(exit) ? exit.value : Cause.isInterruptedOnly(exit.cause) ? 0 : 1,
      stdout,
      stderr
    })
    return {
      stdout: () => stdout,
      stderr: () => stderr,
      output: () => output,
      result: Effect.map(Fiber.await(fiber), resultOf),
      hasEnded: () => fiber.unsafePoll() !== null,
      stop: Effect.map(Fiber.interrupt(fiber), resultOf)
    }
  })

/** `felhom-agent ARGS…` in-process, to completion. */
export const runCliInProcess = (
  args: ReadonlyArray<string>,
  env: Record<string, string> = {}
): Effect.Effect<CliResult> => Effect.flatMap(start(args, env), (running) => running.result)

/** A long-running `felhom-agent ARGS…` in-process, stopped (as by SIGTERM) when the scope closes. */
export const startCliInProcess = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.acquireRelease(start(args, env), (running) => Effect.asVoid(running.stop))

/** `felhom-agent daemon --config FILE` in this process; stopped as by SIGTERM when the scope closes. */
export const startDaemonInProcess = (configFile: string, env: Record<string, string> = {}) =>
  startCliInProcess(["daemon", "--config", configFile], env)
