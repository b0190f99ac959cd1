/** `felhom-agent config check`: its options and help. What it does is ../config.ts, loaded when it runs. */
import { Command, Options } from "@effect/cli"
import { lazily } from "../lazy.js"

export const configOption = Options.file("config").pipe(
  Options.withDescription("config file, YAML or JSON (env FELHOM_CONFIG)"),
  Options.optional
)

export const checkOptions = { config: configOption, json: Options.boolean("json") }
export type CheckFlags = Command.Command.ParseConfig<typeof checkOptions>

const check = Command.make(
  "check",
  checkOptions,
  (flags) => lazily(() => import("../config.js"), (m) => m.checkHandler(flags))
).pipe(
  Command.withDescription("validate a config and print the effective settings (secrets redacted)")
)

export const configCommand = Command.make("config").pipe(
  Command.withDescription("configuration tools"),
  Command.withSubcommands([check])
)
