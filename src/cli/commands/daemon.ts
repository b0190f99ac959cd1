/** `felhom-agent daemon`: its options and help. What it does is ../daemon.ts, loaded when it runs. */
import { Command } from "@effect/cli"
import { lazily } from "../lazy.js"
import { configOption } from "./config.js"

export const daemonOptions = { config: configOption }
export type DaemonFlags = Command.Command.ParseConfig<typeof daemonOptions>

export const daemonCommand = Command.make(
  "daemon",
  daemonOptions,
  (flags) => lazily(() => import("../daemon.js"), (m) => m.daemonHandler(flags))
).pipe(
  Command.withDescription("run the agent: recover the journal, then reconcile and talk to the hub until SIGTERM")
)
