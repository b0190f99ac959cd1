/**
 * No log line is lost at exit: a child process (test/daemon/fixtures/log-burst.ts, bundled like
 * the program) logs a burst through the agent's logger and exits through a real teardown path,
 * read through a pipe by a slow reader. Only a real process shows this.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as esbuild from "esbuild"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { options } from "../../scripts/build.mjs"

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "log-burst.ts")
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "felhom-log-burst-"))
const BUNDLE = path.join(outDir, "log-burst.js")

beforeAll(async () => {
  await esbuild.build({ ...options, entryPoints: { "log-burst": FIXTURE }, outdir: outDir, metafile: false })
})
afterAll(() => fs.rmSync(outDir, { recursive: true, force: true }))

interface BurstRun {
  readonly code: number | null
  readonly lines: ReadonlyArray<string>
}

/**
 * Starts the fixture, sends SIGTERM once it is ready, and reads its stderr like a slow journald:
 * paused for a while after the signal, so the socket buffer fills and Node queues the rest in
 * memory — the situation in which an exit without draining loses lines.
 */
const runBurst = (runner: "logging" | "cli" | "noflush", count: number, mode: "sigterm" | "exit", format = "logfmt") =>
  Effect.async<BurstRun>((resume) => {
    const child = spawn(process.execPath, [BUNDLE, mode, String(count), format, runner], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stderr = ""
    let stdout = ""
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    const slowReader = () => {
      child.stderr.pause()
      setTimeout(() => child.stderr.resume(), 1500)
    }
    if (mode === "exit") slowReader()
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
      if (mode === "sigterm" && stdout.includes("READY")) {
        stdout = ""
        slowReader()
        child.kill("SIGTERM")
      }
    })
    child.on("close", (code) => resume(Effect.succeed({ code, lines: stderr.split("\n").filter((l) => l !== "") })))
    return Effect.sync(() => {
      child.kill("SIGKILL")
    })
  })

const seqs = (lines: ReadonlyArray<string>): Array<number> =>
  lines.flatMap((l) => {
    const match = /message="line (\d+)"/.exec(l) ?? /"message":"line (\d+)"/.exec(l)
    return match === null ? [] : [Number(match[1])]
  })

const allOf = (count: number) => Array.from({ length: count }, (_, i) => i)

describe("no log line is lost at exit", () => {
  it.live("every line of a SIGTERM shutdown burst arrives through a pipe (Logging.teardown)", () =>
    Effect.gen(function*() {
      const run = yield* runBurst("logging", 5000, "sigterm")
      expect(run.code).toBe(0)
      expect(seqs(run.lines)).toEqual(allOf(5000))
    }))

  it.live("the same through the CLI's runCli teardown, in JSON", () =>
    Effect.gen(function*() {
      const run = yield* runBurst("cli", 5000, "sigterm", "json")
      expect(run.code).toBe(0)
      expect(seqs(run.lines)).toEqual(allOf(5000))
    }))

  it.live("a burst followed by a normal exit arrives whole", () =>
    Effect.gen(function*() {
      const run = yield* runBurst("logging", 5000, "exit")
      expect(run.code).toBe(0)
      expect(seqs(run.lines)).toEqual(allOf(5000))
    }))

  it.live("control: exiting without draining loses lines with this reader", () =>
    Effect.gen(function*() {
      const run = yield* runBurst("noflush", 5000, "sigterm")
      expect(seqs(run.lines).length).toBeLessThan(5000)
    }))
})
