/** The package bin runs the bundle that `npm ci` builds (its `prepare` script), or says how to build it. */
import { describe, expect, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import * as path from "node:path"
import { ROOT } from "../support/cli.js"

describe("the package bin", () => {
  it("bin/felhom-agent.js --version runs the compiled program", () => {
    const r = ChildProcess.spawnSync(process.execPath, [path.join(ROOT, "bin/felhom-agent.js"), "--version"], { encoding: "utf8" })
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    expect(r.stdout.trim()).toBe("0.1.0")
  })
})
