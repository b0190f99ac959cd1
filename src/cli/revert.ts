/**
 * `felhom-agent revert OP_ID [--json] [--wait]`: undoes a journaled op by running its inverse
 * (gate/revert.ts) as its own journaled op `revert:<OP_ID>`. Through the running daemon if one
 * serves the state directory; otherwise, like `apply`, this process takes the directory's lock
 * and first resolves any op an earlier run left unfinished. Exit 0 only when the op is reverted.
 */
import { Effect } from "effect"
import { recoverFirst, revertRequest } from "../app/requests.js"
import { runActing, writerLayer } from "./acting.js"
import type { RevertFlags } from "./commands/revert.js"

/** The body of `felhom-agent revert` (commands/revert.ts). */
export const revertHandler = (flags: RevertFlags) =>
  runActing({
    stateDir: flags.stateDir,
    json: flags.json,
    request: { v: 1, command: "revert", opId: flags.opId },
    local: Effect.zipRight(recoverFirst, revertRequest(flags.opId)).pipe(
      Effect.provide(writerLayer(flags, { stateDir: flags.stateDir, command: "revert", wait: flags.wait }))
    )
  })
