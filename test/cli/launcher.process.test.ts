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

/** This environment without npm's variables: the tests run under `npm test`, an npm they start must not look nested. */
const withoutNpm = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("npm_")))

describe("stopping through npm", () => {
  it("the watched launchers: from the parent up to npm (the first not started by npm), never init", () => {
    const tree: Record<number, number> = { 50: 40, 40: 30, 30: 20, 20: 10, 10: 1 }
    // 50 sh and 40 tsx were started by npm; 30 is npm; 20 the shell that ran it is not watched.
    const byNpm = new Set([50, 40])
    expect(launchers(50, (pid) => tree[pid], (pid) => byNpm.has(pid))).toEqual([50, 40, 30])
    // Nested runs: npm started by npm is followed up to the outer npm.
    const nested = new Set([50, 40, 30, 20])
    expect(launchers(50, (pid) => tree[pid], (pid) => nested.has(pid))).toEqual([50, 40, 30, 20, 10])
    expect(launchers(1, (pid) => tree[pid], () => true)).toEqual([])
    expect(launchers(40, () => undefined, () => true)).toEqual([40])
  })

  it.scopedLive(
    "under a real `npm run`, the watch ends at npm itself: the shell that ran npm is not watched",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("felhom-npm-tree-")
        const watch = path.join(ROOT, "src/cli/launcherWatch.ts")
        // tsx from this checkout: the script runs in a directory of its own.
        const tsx = path.join(ROOT, "node_modules/tsx/dist/loader.mjs")
        fs.writeFileSync(
          path.join(dir, "package.json"),
          JSON.stringify({
            name: "launcher-tree",
            version: "0.0.0",
            private: true,
            scripts: {
              tree:
                `node --import ${tsx} -e "import('${watch}').then((m) => console.log(JSON.stringify(m.launchers(process.ppid))))"`
            }
          })
        )
        const { pid, stdout } = yield* Effect.async<{ readonly pid: number; readonly stdout: string }>((resume) => {
          const npm = ChildProcess.spawn("npm", ["run", "--silent", "tree"], {
            cwd: dir,
            env: withoutNpm(),
            stdio: ["ignore", "pipe", "inherit"]
          })
          let out = ""
          npm.stdout.on("data", (d: Buffer) => {
            out += d.toString()
          })
          npm.on("close", () => resume(Effect.succeed({ pid: npm.pid ?? 0, stdout: out })))
        })
        const chain = JSON.parse(stdout.trim().split("\n").at(-1) ?? "[]") as ReadonlyArray<number>
        // npm → sh → node: the shell npm ran the script in, then npm, and nothing above it.
        expect(chain).toHaveLength(2)
        expect(chain.at(-1)).toBe(pid)
      }),
    60_000
  )

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
      const npm = ChildProcess.spawn("npm", ["run", "sim"], {
        cwd: dir,
        env: withoutNpm(),
        stdio: ["ignore", "pipe", "pipe"]
      })
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
