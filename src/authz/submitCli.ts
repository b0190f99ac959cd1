/**
 * `felhom-agent op submit FILE`: runs a signed op envelope through exactly the path the hub loop
 * uses (authz/submit.ts), after start-up recovery. Prints the outcome; exit 0 only on Applied
 * or AlreadyApplied. A refusal (bad signature, replay, no signers…) is one line, exit 1.
 */
import { Args, Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Config, Console, Effect, Layer } from "effect"
import { gateLayer, opEngineStack, recoverFirst, resultLine, safetySnapshotOption } from "../cli/revert.js"
import { setExitCode } from "../cli/run.js"
import { connectionOptions } from "../cli/connection.js"
import { jsonOption, stateOptions, stderrLogger } from "../cli/state.js"
import { isSuccess } from "../reconcile/Outcome.js"
import { SignedOps } from "./SignedOps.js"
import { loadSigners } from "./Signers.js"
import { submitSignedOp } from "./submit.js"
import { DEFAULT_MAX_LIFETIME_SECONDS, DEFAULT_SKEW_SECONDS } from "./Verifier.js"

export const submitCommand = Command.make(
  "submit",
  {
    ...connectionOptions,
    ...stateOptions,
    file: Args.file({ name: "envelope" }),
    signers: Options.text("signers").pipe(
      Options.withFallbackConfig(Config.string("FELHOM_SIGNERS_FILE")),
      Options.withDescription("signers file (JSON or YAML; absent = no signers, every op refused) (env FELHOM_SIGNERS_FILE)")
    ),
    agentId: Options.text("agent-id").pipe(
      Options.withFallbackConfig(Config.string("FELHOM_AGENT_ID")),
      Options.withDescription("this agent's id, the only aud accepted (env FELHOM_AGENT_ID)")
    ),
    skew: Options.integer("skew").pipe(Options.withDefault(DEFAULT_SKEW_SECONDS)),
    maxLifetime: Options.integer("max-lifetime").pipe(Options.withDefault(DEFAULT_MAX_LIFETIME_SECONDS)),
    safetySnapshot: safetySnapshotOption,
    json: jsonOption
  },
  (flags) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const bytes = yield* fs.readFile(flags.file)
      const signers = yield* loadSigners(flags.signers)
      const signedOps = SignedOps.layer({ agentId: flags.agentId, signers, skew: flags.skew, maxLifetime: flags.maxLifetime })
      const stack = opEngineStack(flags, flags.stateDir, gateLayer(flags.safetySnapshot))
      const result = yield* Effect.zipRight(recoverFirst, submitSignedOp(bytes)).pipe(
        Effect.provide(signedOps.pipe(Layer.provideMerge(stack)))
      )
      const ok = isSuccess(result.outcome)
      yield* Console.log(flags.json
        ? JSON.stringify({ opId: result.opId, seq: result.op.seq, keyid: result.keyid, action: result.action._tag, outcome: result.outcome }, null, 2)
        : `${ok ? "✓" : "✗"} ${resultLine(result)}`)
      yield* setExitCode(ok ? 0 : 1)
    }).pipe(Effect.provide(stderrLogger))
).pipe(Command.withDescription("run a signed op envelope as the hub loop would (verify, admit, gate, engine)"))
