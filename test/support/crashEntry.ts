#!/usr/bin/env node
/**
 * The crash tests' program: the CLI of src/main.ts with the engine pausing at the phase named by
 * FELHOM_TEST_PAUSE_AT (enginePause.ts); unset, it is the CLI unchanged. Bundled apart from the
 * program (scripts/build.mjs, `buildCrash`, into dist-test/), so nothing shipped can pause.
 */
import { NodeContext } from "@effect/platform-node"
import { Effect, Option, Schema } from "effect"
import { cli } from "../../src/cli/root.js"
import { runCli } from "../../src/cli/run.js"
import { EnginePhase, EnginePhases } from "../../src/reconcile/EnginePhases.js"
import { pauseAt } from "./enginePause.js"

const setting = process.env["FELHOM_TEST_PAUSE_AT"]
const phase = Schema.decodeUnknownOption(EnginePhase)(setting)

if (setting !== undefined && Option.isNone(phase)) {
  // A misspelt phase would never pause, and the test would blame the engine.
  process.stderr.write(`crashEntry: FELHOM_TEST_PAUSE_AT=${setting} is not one of ${EnginePhase.literals.join(", ")}\n`)
  process.exitCode = 2
} else {
  const program = cli(process.argv).pipe(Effect.provide(NodeContext.layer))
  runCli(Option.match(phase, {
    onNone: () => program,
    onSome: (p) => Effect.provideService(program, EnginePhases, pauseAt(p))
  }))
}
