/** The package bin runs the bundle that `npm ci` builds (its `prepare` script), or says how to build it. */
import { describe, expect, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { ROOT } from "../support/cli.js"

describe("the package bin", () => {
  it("bin/felhom-agent.js --version runs the bundled program", () => {
    const r = ChildProcess.spawnSync(process.execPath, [path.join(ROOT, "bin/felhom-agent.js"), "--version"], {
      encoding: "utf8"
    })
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    expect(r.stdout.trim()).toBe("0.1.0")
  })

  it("without dist/ it says how to build, in one line, exit 1", () => {
    // A copy of the package's bin beside no dist/: the state of a checkout before `npm run build`.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "felhom-bin-"))
    try {
      fs.mkdirSync(path.join(dir, "bin"))
      fs.copyFileSync(path.join(ROOT, "bin/felhom-agent.js"), path.join(dir, "bin/felhom-agent.js"))
      const r = ChildProcess.spawnSync(process.execPath, [path.join(dir, "bin/felhom-agent.js"), "--version"], {
        encoding: "utf8"
      })
      expect(r.stdout).toBe("")
      expect(r.stderr).toBe("felhom-agent: the program is not built; run `npm run build` in the package directory\n")
      expect(r.status).toBe(1)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
