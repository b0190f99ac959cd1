/**
 * The PVE simulator as a child process (`felhom-agent sim`), for benchmarks: PVE never runs in
 * the agent's process, and on this 2-core machine an in-process simulator would share the
 * agent's one event-loop thread, so every request's server-side CPU would be billed to the
 * client's wall time. The child gets its own core; faults and the mutation log go through the
 * simulator's control API.
 */
import { Effect, Redacted, type Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { CLI, cliReady } from "./cliBundle.js"

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")

export interface SimChild {
  readonly url: string
  readonly controlUrl: string
  readonly fingerprint: string
  readonly tokenId: string
  readonly tokenSecret: Redacted.Redacted<string>
  readonly tokenFile: string
  readonly pid: number
  readonly control: (method: string, route: string, body?: unknown) => Promise<unknown>
}

export const startSimChild = (
  options: { readonly guests: number; readonly seed: number; readonly taskMs?: number }
): Effect.Effect<SimChild, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "felhom-bench-sim-"))),
      (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
    )
    yield* Effect.promise(cliReady)
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ChildProcess.spawn(process.execPath, [
          CLI,
          "sim",
          "--port",
          "0",
          "--control-port",
          "0",
          "--guests",
          String(options.guests),
          "--seed",
          String(options.seed),
          "--task-ms",
          String(options.taskMs ?? 50),
          "--dir",
          dir
        ], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } })
      ),
      (c) =>
        Effect.async<void>((resume) => {
          if (c.exitCode !== null || c.signalCode !== null) return resume(Effect.void)
          c.once("close", () => resume(Effect.void))
          c.kill("SIGTERM")
        })
    )
    const output = yield* Effect.async<string, Error>((resume) => {
      let out = ""
      let err = ""
      const timer = setTimeout(() => resume(Effect.fail(new Error(`simulator did not start:\n${out}${err}`))), 120_000)
      child.stderr?.on("data", (d: Buffer) => {
        err += d.toString()
      })
      child.stdout?.on("data", (d: Buffer) => {
        out += d.toString()
        if (out.includes("try: ")) {
          clearTimeout(timer)
          resume(Effect.succeed(out))
        }
      })
      child.once("close", (code) => {
        clearTimeout(timer)
        resume(Effect.fail(new Error(`simulator exited (${code}):\n${out}${err}`)))
      })
    })
    const m = /listening on (\S+) \(control API (\S+)\)/.exec(output)
    const tokenFile = /token file:\s+(\S+)/.exec(output)?.[1]
    const fingerprint = /fingerprint: (\S+)/.exec(output)?.[1] ?? ""
    if (m === null || tokenFile === undefined) {
      return yield* Effect.fail(new Error(`unexpected simulator output:\n${output}`))
    }
    const line = fs.readFileSync(tokenFile, "utf8").trim()
    const i = line.lastIndexOf("=")
    const controlUrl = m[2] ?? ""
    const control = async (method: string, route: string, body?: unknown): Promise<unknown> => {
      const res = await fetch(controlUrl + route, {
        method,
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } })
      })
      if (!res.ok) throw new Error(`control ${method} ${route}: ${res.status} ${await res.text()}`)
      return res.json()
    }
    return {
      url: m[1] ?? "",
      controlUrl,
      fingerprint,
      tokenFile,
      pid: child.pid ?? 0,
      tokenId: line.slice(0, i),
      tokenSecret: Redacted.make(line.slice(i + 1)),
      control
    }
  })

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export const processCpuSeconds = (pid: number): number => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return NaN
  }
}

/**
 * CPU seconds this process's main thread (the event loop) has used so far, from /proc (Linux):
 * process CPU also counts V8's helper threads (GC, JIT compilation), which run beside it.
 */
export const mainThreadCpuSeconds = (): number => {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return NaN
  }
}
