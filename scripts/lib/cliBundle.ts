/**
 * The CLI as scripts spawn it: the bundle dist/main.js under plain node, as shipped. `cliReady`
 * builds it (scripts/build.mjs) once per process, so a script never runs a bundle older than
 * the sources; unchanged output is not rewritten.
 */
import * as path from "node:path"
import { build, ENTRY_OUT, ROOT } from "../build.mjs"

export const CLI = path.join(ROOT, ENTRY_OUT)

let built: Promise<unknown> | undefined

export const cliReady = (): Promise<unknown> => {
  built ??= build()
  return built
}
