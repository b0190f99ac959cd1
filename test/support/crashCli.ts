/**
 * The CLI killed at an engine phase, the way a crash would leave it: the crash tests' bundle
 * (dist-test/crash.js, built by vitest's globalSetup from test/support/crashEntry.ts) runs with
 * FELHOM_TEST_PAUSE_AT, and is SIGKILLed once it reports the pause. What runs after it is the
 * program as shipped (test/support/cli.ts).
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as Path from "node:path"
import { CRASH_ENTRY_OUT } from "../../scripts/build.mjs"
import type { EnginePhase } from "../../src/reconcile/EnginePhases.js"
import { ROOT } from "./cli.js"
import { pausedMarker } from "./enginePause.js"

/** The crash tests' entry: spawn `node CRASH_MAIN ARGS…`. */
export const CRASH_MAIN = Path.join(ROOT, CRASH_ENTRY_OUT)

/** Runs `felhom-agent ARGS…` until it pauses at `phase`, then SIGKILLs it; answers the signal it died of. */
export const killedAt = (args: ReadonlyArray<string>, phase: EnginePhase) =>
  Effect.async<string>((resume) => {
    const child = spawn(process.execPath, [CRASH_MAIN, ...args], {
      env: { ...process.env, FELHOM_TEST_PAUSE_AT: phase },
      stdio: ["ignore", "ignore", "pipe"]
    })
    let err = ""
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString()
      if (err.includes(pausedMarker(phase))) child.kill("SIGKILL")
    })
    child.on("exit", (_code, signal) => resume(Effect.succeed(signal ?? `exited without pausing: ${err}`)))
    return Effect.sync(() => {
      child.kill("SIGKILL")
    })
  })
