/**
 * `felhom-agent op submit FILE`: runs a signed op envelope through exactly the path the hub loop
 * uses (authz/submit.ts). With a daemon running on the state directory, the daemon verifies and
 * runs it with its own signers and agent id; otherwise this process takes the directory's lock,
 * runs start-up recovery, and verifies with `--signers`/`--agent-id`. Prints the outcome; exit 0
 * only on Applied or AlreadyApplied. A refusal (bad signature, replay, no signers…) is one
 * line, exit 1.
 */
import { Args, Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Config, Effect, Layer, Option } from "effect"
import * as os from "node:os"
import { recoverFirst, submitRequest } from "../app/requests.js"
import { runActing, waitOption, writerLayer } from "./acting.js"
import { fileErrorReason } from "../domain/fileError.js"
import { connectionOptions, FileUnreadable } from "./connection.js"
import { jsonOption, stateOptions, stderrLogger } from "./state.js"
import { SignedOps } from "../authz/SignedOps.js"
import { loadSigners, noSigners } from "../authz/Signers.js"
import { DEFAULT_MAX_LIFETIME_SECONDS, DEFAULT_SKEW_SECONDS } from "../authz/Verifier.js"

export const safetySnapshotOption = Options.boolean("safety-snapshot").pipe(
  Options.withDescription("take a safety snapshot before a rollback, making it revertible (env FELHOM_GATE_SAFETY_SNAPSHOT)")
)

export const submitCommand = Command.make(
  "submit",
  {
    ...connectionOptions,
    ...stateOptions,
    file: Args.file({ name: "envelope" }),
    signers: Options.text("signers").pipe(
      Options.withFallbackConfig(Config.string("FELHOM_SIGNERS_FILE")),
      Options.withDescription("signers file (JSON or YAML); without one every op is refused (env FELHOM_SIGNERS_FILE)"),
      Options.optional
    ),
    agentId: Options.text("agent-id").pipe(
      Options.withFallbackConfig(Config.string("FELHOM_AGENT_ID")),
      Options.withDescription("this agent's id, the only aud accepted; default: the host name (env FELHOM_AGENT_ID)"),
      Options.optional
    ),
    skew: Options.integer("skew").pipe(Options.withDefault(DEFAULT_SKEW_SECONDS)),
    maxLifetime: Options.integer("max-lifetime").pipe(Options.withDefault(DEFAULT_MAX_LIFETIME_SECONDS)),
    safetySnapshot: safetySnapshotOption,
    json: jsonOption,
    wait: waitOption
  },
  (flags) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const bytes = yield* fs.readFile(flags.file).pipe(
        Effect.mapError((e) => new FileUnreadable({ what: "envelope file", path: flags.file, reason: fileErrorReason(e) }))
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
        request: { v: 1, command: "submit", envelope: Buffer.from(bytes).toString("base64"), safetySnapshot: flags.safetySnapshot },
        local
      })
    }).pipe(Effect.provide(stderrLogger))
).pipe(Command.withDescription("run a signed op envelope as the hub loop would (verify, admit, gate, engine)"))
