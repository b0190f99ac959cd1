/**
 * Stopping the program through npm: npm 11 passes no SIGTERM on to what it started, so the
 * program watches its launchers (src/cli/launcherWatch.ts). `npm run` of the simulator, npm sent
 * SIGTERM: the simulator stops too (its port closes), where before it kept running re-parented.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { launchers } from "../../src/cli/launcherWatch.js"
import { ROOT } from "../support/cli.js"
import { isListening, pollUntil, tempDir } from "../support/daemon.js"

describe("stopping through npm", () => {
  it("the watched launchers: parent first, at most four, never init", () => {
    const tree: Record<number, number> = { 50: 40, 40: 30, 30: 20, 20: 10, 10: 1 }
    expect(launchers(50, (pid) => tree[pid])).toEqual([50, 40, 30, 20])
    expect(launchers(30, (pid) => tree[pid])).toEqual([30, 20, 10])
    expect(launchers(1, (pid) => tree[pid])).toEqual([])
    expect(launchers(40, () => undefined)).toEqual([40])
  })

  it.scopedLive("SIGTERM to `npm run` stops the program npm started", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("felhom-npm-")
      const bin = path.join(ROOT, "bin/felhom-agent.js")
      fs.writeFileSync(
        path.join(dir, "package.json"),
        JSON.stringify({
          name: "launcher-test",
          version: "0.0.0",
          private: true,
          scripts: { sim: `node ${bin} sim --port 0 --control-port 0 --dir ${path.join(dir, "sim")}` }
        })
      )
      const npm = ChildProcess.spawn("npm", ["run", "sim"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
      let output = ""
      npm.stdout.on("data", (d: Buffer) => {
        output += d.toString()
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => npm.kill("SIGKILL")))
      const banner = yield* pollUntil("the simulator's banner", Effect.sync(() => output), (o) => o.includes("try: "))
      const port = Number(/listening on https:\/\/127\.0\.0\.1:(\d+)/.exec(banner)?.[1])
      expect(yield* isListening(port)).toBe(true)
      npm.kill("SIGTERM")
      yield* pollUntil("the simulator to stop", isListening(port), (listening) => !listening, {
        timeout: "15 seconds",
        context: () => output
      })
    }), 60_000)
})
