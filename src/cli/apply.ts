/**
 * `felhom-agent apply --desired FILE [--json] [--allow-keys K,…] [--wait]`: one reconcile pass
 * over the document. With a daemon running on the state directory, the daemon runs it through
 * its own queue, gate and journal; otherwise this process takes the directory's lock, resolves
 * every op an earlier run left unfinished (start-up recovery, docs/architecture.md, invariant 5; if one
 * cannot be resolved, nothing runs), then observes, plans and runs, waiting for every task.
 * Exit 0 only if every action succeeded (applied, or already applied).
 */
import { Command } from "@effect/cli"
import { Effect, Schema } from "effect"
import { applyRequest, recoverFirst } from "../app/requests.js"
import { DesiredState } from "../domain/DesiredState.js"
import { runActing, waitOption, writerLayer } from "./acting.js"
import { connectionOptions } from "./connection.js"
import { allowKeysOption, desiredOption, keysOf, readDesired } from "./plan.js"
import { jsonOption, stateOptions, stderrLogger } from "./state.js"

const encodeDesired = Schema.encodeSync(DesiredState)

export const applyCommand = Command.make(
  "apply",
  { ...connectionOptions, ...stateOptions, desired: desiredOption, json: jsonOption, allowKeys: allowKeysOption, wait: waitOption },
  (flags) =>
    Effect.gen(function*() {
      const desired = yield* readDesired(flags.desired)
      const allowKeys = keysOf(flags.allowKeys)
      yield* runActing({
        stateDir: flags.stateDir,
        json: flags.json,
        request: { v: 1, command: "apply", desired: encodeDesired(desired), allowKeys },
        local: Effect.flatMap(recoverFirst, (recovery) => applyRequest(desired, { allowKeys, recovery, source: flags.desired })).pipe(
          Effect.provide(writerLayer(flags, { stateDir: flags.stateDir, command: "apply", wait: flags.wait }))
        )
      })
    }).pipe(Effect.provide(stderrLogger))
).pipe(Command.withDescription("run one reconcile pass (after resolving any unfinished op); exit 0 only if every action succeeded"))
