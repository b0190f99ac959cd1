/**
 * `felhom-agent daemon [--config FILE]`: the long-running agent (what systemd starts). A bad
 * configuration is one line on stderr and exit 1 before anything starts; SIGTERM is a clean
 * stop with exit 0.
 */
import { Command } from "@effect/cli"
import { Effect } from "effect"
import { load } from "../config/AgentConfig.js"
import { runDaemon } from "../daemon/Daemon.js"
import { loggingLayer } from "../daemon/layers.js"
import { configOption } from "./config.js"

export const daemonCommand = Command.make("daemon", { config: configOption }, ({ config }) =>
  Effect.flatMap(load(config), (loaded) => runDaemon(loaded).pipe(Effect.provide(loggingLayer(loaded.settings))))
).pipe(Command.withDescription("run the agent: recover the journal, then reconcile and talk to the hub until SIGTERM"))
