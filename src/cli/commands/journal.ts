/** `felhom-agent journal list|show`: options and help. What they do is ../journal.ts, loaded when one runs. */
import { Args, Command, Options } from "@effect/cli"
import { lazily } from "../lazy.js"
import { jsonOption, stateOptions } from "../state.js"

export const MAX_LIMIT = 10_000

export const listOptions = {
  ...stateOptions,
  json: jsonOption,
  limit: Options.integer("limit").pipe(
    Options.withDefault(50),
    Options.withDescription(`newest N ops, 1 to ${MAX_LIMIT} (default 50)`)
  )
}
export type ListFlags = Command.Command.ParseConfig<typeof listOptions>

export const showOptions = {
  ...stateOptions,
  json: jsonOption,
  opId: Args.text({ name: "OP_ID" }).pipe(
    Args.withDescription("an op id, or any unique prefix of one (as journal list prints them)")
  )
}
export type ShowFlags = Command.Command.ParseConfig<typeof showOptions>

const listCommand = Command.make(
  "list",
  listOptions,
  (flags) => lazily(() => import("../journal.js"), (m) => m.listHandler(flags))
).pipe(
  Command.withDescription("list journaled ops, newest first")
)

const showCommand = Command.make(
  "show",
  showOptions,
  (flags) => lazily(() => import("../journal.js"), (m) => m.showHandler(flags))
).pipe(
  Command.withDescription("one op with its phase history")
)

export const journalCommand = Command.make("journal").pipe(
  Command.withDescription("inspect the op journal"),
  Command.withSubcommands([listCommand, showCommand])
)
