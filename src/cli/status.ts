/**
 * `felhom-agent status [--json]`: asks the daemon running on the state directory what it is
 * doing (daemon/status.ts). Without a daemon: one line saying so, exit 3 — as `systemctl
 * status` answers for a unit that is not active.
 */
import { Console, Effect, Option } from "effect"
import type { StatusFlags } from "./commands/status.js"
import { askDaemon } from "./control.js"
import { setExitCode } from "./run.js"

export const NOT_RUNNING_EXIT = 3

/** The body of `felhom-agent status` (commands/status.ts). */
export const statusHandler = (flags: StatusFlags) =>
  Effect.gen(function*() {
    const answer = yield* askDaemon(flags.stateDir, { v: 1, command: "status" }, { quiet: true })
    if (Option.isNone(answer)) {
      yield* Console.error(`felhom-agent: no daemon is running on state directory ${flags.stateDir}`)
      return yield* setExitCode(NOT_RUNNING_EXIT)
    }
    yield* Console.log(flags.json ? JSON.stringify(answer.value.json, null, 2) : answer.value.text)
    yield* setExitCode(answer.value.exitCode)
  })
