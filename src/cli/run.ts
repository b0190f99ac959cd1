/**
 * How every command ends: success exits 0; any failure prints one clear line on stderr and exits
 * 1 (commands with their own codes, like `plan`'s 2, call `setExitCode`). The process
 * exits only after stdout and stderr drained: under systemd they are sockets written
 * asynchronously, and lines were measured lost without this (daemon/Logging.ts teardown).
 */
import { ValidationError } from "@effect/cli"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { teardown } from "../daemon/Logging.js"
import { argumentErrorLines, colourAllowed, formatHelp, helpWidth } from "./errorLines.js"
import { stderrLogger } from "./state.js"

// The exit code is a property of the process, so it lives at module level.
let requestedExit = 0
/** A command that succeeds but has something to signal (e.g. `plan` found changes = 2). */
export const setExitCode = (code: number) =>
  Effect.sync(() => {
    requestedExit = code
  })

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
const cliConsole = (base: Console.Console): Console.Console => ({
  ...base,
  error: (...args) => {
    const text = args.map(String).join(" ")
    return text.startsWith("felhom-agent:") ? base.error(...args) : base.error(argumentErrorLines(text).join("\n"))
  },
  log: (...args) => {
    const text = args.map(String).join(" ")
    if (!text.includes("\u001b[")) return base.log(...args)
    const colour = colourAllowed(process.env, process.stdout.isTTY === true)
    return base.log(
      formatHelp(text, {
        colour,
        width: helpWidth(process.env, process.stdout.isTTY === true ? process.stdout.columns : undefined)
      })
    )
  }
})

export const runCli = <E, A>(program: Effect.Effect<A, E | ValidationError.ValidationError, never>): void =>
  NodeRuntime.runMain(
    program.pipe(
      (p) => Effect.consoleWith((base) => Effect.withConsole(p, cliConsole(base))),
      // Logs go to stderr only, for every command: stdout is the command's answer. (runMain's
      // pretty logger writes to stdout; it is disabled below, this replaces it.)
      Effect.provide(stderrLogger),
      Effect.catchAll((error) =>
        // @effect/cli has already printed what was wrong with the arguments.
        ValidationError.isValidationError(error)
          ? Effect.sync(() => {
            requestedExit = 1
          })
          : Effect.zipRight(
            Console.error(`felhom-agent: ${describe(error)}`),
            Effect.sync(() => {
              requestedExit = 1
            })
          )
      ),
      Effect.catchAllDefect((defect) =>
        Effect.zipRight(
          Console.error(`felhom-agent: internal error: ${describe(defect)}`),
          Effect.sync(() => {
            requestedExit = 1
          })
        )
      )
    ),
    {
      disableErrorReporting: true,
      disablePrettyLogger: true,
      teardown: teardown(() => requestedExit)
    }
  )
