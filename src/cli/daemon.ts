/**
 * `felhom-agent daemon [--config FILE]`: the long-running agent (what systemd starts). A bad
 * configuration is one line on stderr and exit 1 before anything starts; SIGTERM is a clean
 * stop with exit 0.
 */
import { Effect } from "effect"
import { load } from "../config/AgentConfig.js"
import { runDaemon } from "../daemon/Daemon.js"
import { loggingLayer } from "../daemon/layers.js"
import type { DaemonFlags } from "./commands/daemon.js"

/**
 * NodeRuntime stops listening after the first SIGTERM, so a second one (an impatient operator,
 * a supervisor repeating itself) would kill the process in the middle of the drain. While the
 * daemon runs, later SIGTERMs are noted and ignored; the drain is bounded by shutdownGrace, and
 * SIGKILL remains the way to stop it at once.
 */
const ignoreRepeatedSigterm = Effect.acquireRelease(
  Effect.sync(() => {
    let seen = 0
    const onTerm = () => {
      seen += 1
      if (seen > 1) {
        process.stderr.write("felhom-agent: already stopping (bounded by shutdownGrace); SIGKILL stops at once\n")
      }
    }
    process.on("SIGTERM", onTerm)
    return onTerm
  }),
  (onTerm) =>
    Effect.sync(() => {
      process.off("SIGTERM", onTerm)
    })
)

/** The body of `felhom-agent daemon` (commands/daemon.ts). */
export const daemonHandler = ({ config }: DaemonFlags) =>
  Effect.flatMap(load(config), (loaded) =>
    Effect.zipRight(ignoreRepeatedSigterm, runDaemon(loaded)).pipe(
      Effect.scoped,
      Effect.provide(loggingLayer(loaded.settings))
    ))
