/**
 * `felhom-agent op submit FILE`: runs a signed op envelope through exactly the path the hub loop
 * uses (authz/submit.ts). With a daemon running on the state directory, the daemon verifies and
 * runs it with its own signers and agent id; otherwise this process takes the directory's lock,
 * runs start-up recovery, and verifies with `--signers`/`--agent-id`. Prints the outcome; exit 0
 * only on Applied or AlreadyApplied. A refusal (bad signature, replay, no signers…) is one
 * line, exit 1.
 */
import { FileSystem } from "@effect/platform"
import { Effect, Layer, Option } from "effect"
import * as os from "node:os"
import { recoverFirst, submitRequest } from "../app/requests.js"
import { SignedOps } from "../authz/SignedOps.js"
import { loadSigners, noSigners } from "../authz/Signers.js"
import { fileErrorReason } from "../domain/fileError.js"
import { runActing, writerLayer } from "./acting.js"
import type { SubmitFlags } from "./commands/op.js"
import { FileUnreadable } from "./connectionLayer.js"

/** The body of `felhom-agent op submit` (commands/op.ts). */
export const submitHandler = (flags: SubmitFlags) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const bytes = yield* fs.readFile(flags.file).pipe(
      Effect.mapError((e) =>
        new FileUnreadable({ what: "envelope file", path: flags.file, reason: fileErrorReason(e) })
      )
    )
    const local = Effect.gen(function*() {
      const signers = yield* Option.match(flags.signers, {
        onNone: () => Effect.succeed(noSigners("no signers file configured (--signers or FELHOM_SIGNERS_FILE)")),
        onSome: loadSigners
      })
      const agentId = Option.getOrElse(flags.agentId, () => os.hostname())
      const signedOps = SignedOps.layer({ agentId, signers, skew: flags.skew, maxLifetime: flags.maxLifetime })
      const stack = signedOps.pipe(
        Layer.provideMerge(writerLayer(flags, { stateDir: flags.stateDir, command: "op submit", wait: flags.wait }))
      )
      return yield* Effect.zipRight(recoverFirst, submitRequest(bytes, { safetySnapshot: flags.safetySnapshot })).pipe(
        Effect.provide(stack)
      )
    })
    yield* runActing({
      stateDir: flags.stateDir,
      json: flags.json,
      request: {
        v: 1,
        command: "submit",
        envelope: Buffer.from(bytes).toString("base64"),
        safetySnapshot: flags.safetySnapshot
      },
      local
    })
  })
