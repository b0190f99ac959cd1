/**
 * Options shared by the commands that keep state: the state directory (`state.db` inside it;
 * the directory is created 0700 and the database 0600 by StateStore) and how a writer waits
 * for it. Also the log routing of those commands: logs go to stderr, so stdout carries only
 * the command's answer (and `--json` stays parseable). Read at every start (the command
 * tree), so nothing here opens the database: that is handlers/journal.ts and acting.ts.
 */
import { Options } from "@effect/cli"
import { Config } from "effect"
import { DEFAULT_STATE_DIR } from "../config/stateDir.js"
import { Logging } from "../daemon/Logging.js"

export const stateOptions = {
  stateDir: Options.text("state-dir").pipe(
    Options.withFallbackConfig(Config.string("FELHOM_STATE_DIR")),
    Options.withDefault(DEFAULT_STATE_DIR),
    Options.withDescription(
      `directory of state.db, the op journal (env FELHOM_STATE_DIR; default ${DEFAULT_STATE_DIR})`
    )
  )
}

export const jsonOption = Options.boolean("json").pipe(Options.withDescription("print JSON"))

export const waitOption = Options.boolean("wait").pipe(
  Options.withDescription("when another command holds the state directory, wait for it instead of failing")
)

/**
 * logfmt lines on stderr, and no other logger: stdout carries only the command's answer, so
 * `--json` output is exactly one JSON document whatever is logged meanwhile.
 */
export const stderrLogger = Logging.layer({ format: "logfmt", stream: "stderr" })
