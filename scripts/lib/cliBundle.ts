/**
 * The CLI as scripts spawn it: the bundle dist/main.js under plain node, as shipped. `cliReady`
 * builds it (scripts/build.mjs) once per process, so a script never runs a bundle older than
 * the sources; unchanged output is not rewritten. `CRASH_CLI` is the crash runs' build of the
 * same CLI (dist-test/crash.js), which can pause at an engine phase to be killed there;
 * `crashCliReady` builds it the same way.
 */
import * as path from "node:path"
import { build, buildCrash, CRASH_ENTRY_OUT, ENTRY_OUT, ROOT } from "../build.mjs"

export const CLI = path.join(ROOT, ENTRY_OUT)
export const CRASH_CLI = path.join(ROOT, CRASH_ENTRY_OUT)

let built: Promise<unknown> | undefined
let crashBuilt: Promise<unknown> | undefined

export const cliReady = (): Promise<unknown> => {
  built ??= build()
  return built
}

export const crashCliReady = (): Promise<unknown> => {
  crashBuilt ??= buildCrash()
  return crashBuilt
}
