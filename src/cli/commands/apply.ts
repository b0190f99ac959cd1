/** `felhom-agent apply`: its options and help. What it does is ../apply.ts, loaded when it runs. */
import { Command } from "@effect/cli"
import { actingConnectionOptions } from "../connection.js"
import { lazily } from "../lazy.js"
import { jsonOption, stateOptions, waitOption } from "../state.js"
import { allowKeysOption, desiredOption } from "./plan.js"

export const applyOptions = {
  ...actingConnectionOptions,
  ...stateOptions,
  desired: desiredOption,
  json: jsonOption,
  allowKeys: allowKeysOption,
  wait: waitOption
}
export type ApplyFlags = Command.Command.ParseConfig<typeof applyOptions>

export const applyCommand = Command.make(
  "apply",
  applyOptions,
  (flags) => lazily(() => import("../apply.js"), (m) => m.applyHandler(flags))
).pipe(
  Command.withDescription(
    "run one reconcile pass (after resolving any unfinished op); exit 0 only if every action succeeded"
  )
)
