/** `felhom-agent status`: its options and help. What it does is ../status.ts, loaded when it runs. */
import { Command } from "@effect/cli"
import { lazily } from "../lazy.js"
import { jsonOption, stateOptions } from "../state.js"

export const statusOptions = { ...stateOptions, json: jsonOption }
export type StatusFlags = Command.Command.ParseConfig<typeof statusOptions>

export const statusCommand = Command.make(
  "status",
  statusOptions,
  (flags) => lazily(() => import("../status.js"), (m) => m.statusHandler(flags))
).pipe(
  Command.withDescription("ask the running daemon what it is doing; exit 3 when no daemon runs on the state directory")
)
