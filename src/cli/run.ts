/**
 * How every command ends: success exits 0; any failure prints one clear line on stderr and exits
 * 1 (commands with their own codes, like `plan`'s 2, call `setExitCode`). `runCommand` is the
 * whole of that as an Effect that returns the exit code, so tests run a command in-process
 * exactly as `main` does; `runCli` runs it as the process. The process exits only after stdout
 * and stderr drained: under systemd they are sockets written asynchronously, and lines were
 * measured lost without this (daemon/Logging.ts teardown).
 */
import { ValidationError } from "@effect/cli"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, FiberRef } from "effect"
import { teardown } from "../daemon/Logging.js"
import { argumentErrorLines, colourAllowed, formatHelp, helpWidth } from "./errorLines.js"
import { stopWithLauncher } from "./launcherWatch.js"
import { stderrLogger } from "./state.js"

/**
 * The code a command that succeeds asks to exit with (e.g. `plan` found changes = 2). A fiber
 * ref rather than a variable, so commands run side by side in one process (tests) keep theirs.
 */
const requestedExit = FiberRef.unsafeMake(0)

export const setExitCode = (code: number) => FiberRef.set(requestedExit, code)

/** What help rendering needs to know of the terminal stdout goes to. */
export interface Terminal {
  readonly isTTY: boolean
  readonly columns: number | undefined
  readonly env: NodeJS.ProcessEnv
}

const describe = (error: unknown): string => {
  if (
    typeof error === "object" && error !== null && "message" in error && typeof error.message === "string" &&
    error.message !== ""
  ) {
    return error.message
  }
  return String(error)
}

/**
 * The console commands print through. @effect/cli prints its argument errors with
 * `Console.error` and its help with `Console.log`, both as ANSI help documents; ours never carry
 * ANSI and our error lines start with `felhom-agent:`. So: argument errors become one line plus
 * a hint (errorLines.ts), help is fitted to the terminal, everything else passes unchanged.
 */
const cliConsole = (base: Console.Console, terminal: Terminal): Console.Console => ({
  ...base,
  error: (...args) => {
    const text = args.map(String).join(" ")
    return text.startsWith("felhom-agent:") ? base.error(...args) : base.error(argumentErrorLines(text).join("\n"))
  },
  log: (...args) => {
    const text = args.map(String).join(" ")
    if (!text.includes("\u001b[")) return base.log(...args)
    return base.log(
      formatHelp(text, {
        colour: colourAllowed(terminal.env, terminal.isTTY),
        width: helpWidth(terminal.env, terminal.isTTY ? terminal.columns : undefined)
      })
    )
  }
})

/**
 * Runs a parsed command line to its exit code; never fails. Errors are printed as one
 * `felhom-agent: …` line through the current console; logs go to the current logger.
 */
export const runCommand = <E, A, R>(
  program: Effect.Effect<A, E | ValidationError.ValidationError, R>,
  terminal: Terminal
): Effect.Effect<number, never, R> =>
  program.pipe(
    (p) => Effect.consoleWith((base) => Effect.withConsole(p, cliConsole(base, terminal))),
    Effect.zipRight(FiberRef.get(requestedExit)),
    Effect.catchAll((error) =>
      // @effect/cli has already printed what was wrong with the arguments.
      ValidationError.isValidationError(error)
        ? Effect.succeed(1)
        : Effect.as(Console.error(`felhom-agent: ${describe(error)}`), 1)
    ),
    Effect.catchAllDefect((defect) => Effect.as(Console.error(`felhom-agent: internal error: ${describe(defect)}`), 1)),
    Effect.locally(requestedExit, 0)
  )

/** `main`: the command line as this process, logs on stderr, exit code as computed. */
export const runCli = <E, A>(program: Effect.Effect<A, E | ValidationError.ValidationError, never>): void => {
  let code = 0
  stopWithLauncher(process.env)
  NodeRuntime.runMain(
    runCommand(program, { isTTY: process.stdout.isTTY === true, columns: process.stdout.columns, env: process.env })
      .pipe(
        Effect.map((c) => {
          code = c
        }),
        // Logs go to stderr only, for every command: stdout is the command's answer. (runMain's
        // pretty logger writes to stdout; it is disabled below, this replaces it.)
        Effect.provide(stderrLogger)
      ),
    { disableErrorReporting: true, disablePrettyLogger: true, teardown: teardown(() => code) }
  )
}
