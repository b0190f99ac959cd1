/**
 * `felhom-agent apply --desired FILE [--json] [--allow-keys K,…] [--wait]`: one reconcile pass
 * over the document. With a daemon running on the state directory, the daemon runs it through
 * its own queue, gate and journal; otherwise this process takes the directory's lock, resolves
 * every op an earlier run left unfinished (start-up recovery, docs/architecture.md, invariant 5; if one
 * cannot be resolved, nothing runs), then observes, plans and runs, waiting for every task.
 * Exit 0 only if every action succeeded (applied, or already applied).
 */
import { Effect, Schema } from "effect"
import { applyRequest, recoverFirst } from "../app/requests.js"
import { DesiredState } from "../domain/DesiredState.js"
import { runActing, writerLayer } from "./acting.js"
import type { ApplyFlags } from "./commands/apply.js"
import { keysOf, readDesired } from "./plan.js"

const encodeDesired = Schema.encodeSync(DesiredState)

/** The body of `felhom-agent apply` (commands/apply.ts). */
export const applyHandler = (flags: ApplyFlags) =>
  Effect.gen(function*() {
    const desired = yield* readDesired(flags.desired)
    const allowKeys = keysOf(flags.allowKeys)
    yield* runActing({
      stateDir: flags.stateDir,
      json: flags.json,
      request: { v: 1, command: "apply", desired: encodeDesired(desired), allowKeys },
      local: Effect.flatMap(recoverFirst, (recovery) =>
        applyRequest(desired, { allowKeys, recovery, source: flags.desired })).pipe(
          Effect.provide(writerLayer(flags, { stateDir: flags.stateDir, command: "apply", wait: flags.wait }))
        )
    })
  })
