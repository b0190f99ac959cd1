/** `felhom-agent revert OP_ID`: its options and help. What it does is ../revert.ts, loaded when it runs. */
import { Args, Command } from "@effect/cli"
import { actingConnectionOptions } from "../connection.js"
import { lazily } from "../lazy.js"
import { jsonOption, stateOptions, waitOption } from "../state.js"

export const revertOptions = {
  ...actingConnectionOptions,
  ...stateOptions,
  opId: Args.text({ name: "OP_ID" }),
  json: jsonOption,
  wait: waitOption
}
export type RevertFlags = Command.Command.ParseConfig<typeof revertOptions>

export const revertCommand = Command.make(
  "revert",
  revertOptions,
  (flags) => lazily(() => import("../revert.js"), (m) => m.revertHandler(flags))
).pipe(
  Command.withDescription("undo a done op by running its journaled inverse as a new journaled op revert:OP_ID")
)
