/** `felhom-agent selftest`: its options and help. What it does is ../selftest.ts, loaded when it runs. */
import { Command, Options } from "@effect/cli"
import { VmidFromString } from "../../domain/Vmid.js"
import { SELFTEST_TAG } from "../../selftest/tag.js"
import { actingConnectionOptions } from "../connection.js"
import { lazily } from "../lazy.js"
import { jsonOption, stateOptions, waitOption } from "../state.js"

export const selftestOptions = {
  vmid: Options.text("vmid").pipe(Options.withSchema(VmidFromString), Options.withDescription("the test guest's vmid")),
  task: Options.choice("task", ["permissions", "snapshot", "config", "all"] as const).pipe(
    Options.withDefault("all" as const),
    Options.withDescription("which exercise to run (default all); permissions only checks the token's privileges")
  ),
  report: Options.file("report").pipe(
    Options.optional,
    Options.withDescription("write the Markdown report to this file")
  ),
  confirm: Options.boolean("confirm").pipe(
    Options.withDescription(`run on a guest without the '${SELFTEST_TAG}' tag (it is changed and put back)`)
  )
}

export const selftestCommandOptions = {
  ...actingConnectionOptions,
  ...stateOptions,
  ...selftestOptions,
  json: jsonOption,
  wait: waitOption
}
export type SelftestFlags = Command.Command.ParseConfig<typeof selftestCommandOptions>

export const selftestCommand = Command.make(
  "selftest",
  selftestCommandOptions,
  (flags) => lazily(() => import("../selftest.js"), (m) => m.selftestHandler(flags))
).pipe(
  Command.withDescription(
    `exercise a test guest (tag '${SELFTEST_TAG}' or --confirm) reversibly: permissions, snapshot, config; exit 0 only if all pass`
  )
)
