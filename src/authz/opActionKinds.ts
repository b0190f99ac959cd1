/**
 * The kinds of action a signed op can carry, as a plain list. A module of its own so the CLI's
 * `op sign --action` choices can be built without evaluating the op payload schemas.
 */
import type { OpActionKind } from "./OpPayload.js"

export const OP_ACTION_KINDS: ReadonlyArray<OpActionKind> = [
  "start",
  "stop",
  "shutdown",
  "set-config",
  "snapshot-create",
  "snapshot-rollback",
  "snapshot-delete"
]
