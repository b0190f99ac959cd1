/**
 * Every shell block of README.md and docs/*.md is accounted for, so no documented command goes
 * untested: a walk-through test runs it word for word (named in COVERED), or this file runs it
 * with host paths moved into a temp directory and nothing else changed. What cannot run off a
 * host is named with what checks it instead: `npm ci` and `npm test` are .ci/run's own two
 * steps; `systemctl …` needs systemd as PID 1, so the unit it starts is checked by
 * `systemd-analyze verify` here. A new block fails this test until it is given one of those.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { onPath } from "../deploy/monitoring.js"
import { MAIN, ROOT, runCli } from "../support/cli.js"
import { freePort, health, pollUntil, tempDir, writeDaemonConfig } from "../support/daemon.js"
import { allShBlocks, shBlock, words } from "../support/docBlocks.js"
import { Sim } from "../support/sim.js"

/** Blocks a walk-through test runs as written. */
const COVERED: Readonly<Record<string, string>> = {
  "README.md › ### Try it against the simulator": "test/cli/readme.process.test.ts",
  "README.md › ## Selftest": "test/cli/readme.process.test.ts",
  "docs/signed-ops.md › ## Walk-through against the simulator": "test/cli/signedOpsDoc.process.test.ts"
}
/** Blocks this file runs. */
const RUN_HERE = [
  "README.md › ## Quick start (a fresh machine with Node.js ≥ 20 and npm)",
  "README.md › ## The daemon",
  "docs/operations.md › ## Alerts and dashboard",
  "docs/operations.md › ### Plain (any Linux with Node.js ≥ 20)"
]
const DOCS = [
  "README.md",
  ...fs.readdirSync(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)
]

interface Ran {
  readonly code: number | null
  readonly output: string
}

/** A documented command line as a process in the repository; `felhom-agent` is the bundle. */
const spawnLine = (line: string, env: Record<string, string> = {}) => {
  const [command = "", ...args] = words(line)
  return ChildProcess.spawn(
    command === "felhom-agent" ? process.execPath : command,
    command === "felhom-agent" ? [MAIN, ...args] : args,
    { cwd: ROOT, env: { ...process.env, NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] }
  )
}

/** A documented command line, to completion. */
const sh = (line: string, env: Record<string, string> = {}): Effect.Effect<Ran> =>
  Effect.async<Ran>((resume) => {
    const child = spawnLine(line, env)
    let output = ""
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString()
    })
    child.stderr.on("data", (d: Buffer) => {
      output += d.toString()
    })
    child.on("close", (code) => resume(Effect.succeed({ code, output })))
    return Effect.sync(() => {
      child.kill("SIGKILL")
    })
  })

/** `daemon --config FILE` from a documented line, until ready on `port`; then SIGTERM, exit 0. */
const daemonReadyThenStopped = (line: string, port: number) =>
  Effect.gen(function*() {
    const child = spawnLine(line)
    let output = ""
    child.stderr.on("data", (d: Buffer) => {
      output += d.toString()
    })
    const exited = Effect.async<number | null>((resume) => {
      if (child.exitCode !== null) return resume(Effect.succeed(child.exitCode))
      child.once("exit", (code) => resume(Effect.succeed(code)))
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
    yield* pollUntil(`ready: ${line}`, health(port, "/readyz"), (a) => a.status === 200, { context: () => output })
    child.kill("SIGTERM")
    expect(yield* exited, output).toBe(0)
  })

describe("every command in README.md and docs/", () => {
  it("each shell block is run by a test, here or by a walk-through", () => {
    const found = DOCS.flatMap((doc) => allShBlocks(doc).map((b) => `${doc} › ${b.heading}`))
    const unaccounted = found.filter((key) => COVERED[key] === undefined && !RUN_HERE.includes(key))
    expect(unaccounted).toEqual([])
    for (const key of [...Object.keys(COVERED), ...RUN_HERE]) expect(found).toContain(key)
  })

  it.live(
    "Quick start: npm start, the demo, converges (npm ci and npm test are .ci/run's steps)",
    () =>
      Effect.gen(function*() {
        const lines = shBlock("README.md", "## Quick start")
        expect(lines).toEqual(["npm ci", "npm start", "npm test"])
        const demo = yield* sh("npm start")
        expect(demo.code, demo.output).toBe(0)
        expect(demo.output).toMatch(/second pass: 0 action\(s\), 0 new mutation\(s\) — converged\./)
      }),
    120_000
  )

  it.scopedLive(
    "The daemon: config check and daemon with /etc/felhom/agent.yaml, here in a temp directory",
    () =>
      Effect.gen(function*() {
        const sim = yield* Sim
        const dir = yield* tempDir("felhom-doc-daemon-")
        const port = yield* freePort
        const env = yield* writeDaemonConfig(dir, sim, port)
        fs.mkdirSync(path.join(dir, "etc/felhom"), { recursive: true })
        // JSON is YAML: the daemon's config, where the docs keep it.
        fs.copyFileSync(env.configFile, path.join(dir, "etc/felhom/agent.yaml"))
        const host = (line: string) => line.replaceAll("/etc/felhom/", `${dir}/etc/felhom/`)
        const lines = shBlock("README.md", "## The daemon")
        expect(lines).toEqual([
          "felhom-agent config check --config /etc/felhom/agent.yaml",
          "felhom-agent daemon --config /etc/felhom/agent.yaml"
        ])
        const check = yield* runCli(words(host(lines[0] ?? "")).slice(1))
        expect(check.code, check.stderr).toBe(0)
        expect(check.stdout).toContain("agentId: agent-pve1")
        yield* daemonReadyThenStopped(host(lines[1] ?? ""), port)
        // The plain install: build, then the daemon from the checkout (npm ci is .ci/run's step).
        const plain = shBlock("docs/operations.md", "### Plain (any Linux with Node.js ≥ 20)")
        expect(plain).toEqual([
          "npm ci && npm run build",
          "node bin/felhom-agent.js daemon --config /etc/felhom/agent.yaml"
        ])
        const build = yield* sh("npm run build")
        expect(build.code, build.output).toBe(0)
        yield* daemonReadyThenStopped(host(plain[1] ?? ""), port)
      }).pipe(Effect.provide(Sim.layer({ guests: [] }))),
    120_000
  )

  const hasPromtool = onPath("promtool")
  it.scopedLive.skipIf(!hasPromtool)(
    `Alerts: promtool checks the rules and a prometheus.yml as the docs write it (systemctl reload needs a host)${
      hasPromtool ? "" : " [SKIPPED: promtool is not installed; .ci/run installs it]"
    }`,
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("felhom-doc-prom-")
        const lines = shBlock("docs/operations.md", "## Alerts and dashboard")
        expect(lines).toEqual([
          "promtool check rules /etc/prometheus/rules/felhom-agent.rules.yml",
          "promtool check config /etc/prometheus/prometheus.yml",
          "systemctl reload prometheus"
        ])
        // Where the docs put the files: the shipped rules, and the doc's own prometheus.yml.
        fs.mkdirSync(path.join(dir, "rules"))
        fs.copyFileSync(
          path.join(ROOT, "deploy/prometheus/felhom-agent.rules.yml"),
          path.join(dir, "rules/felhom-agent.rules.yml")
        )
        const doc = fs.readFileSync(path.join(ROOT, "docs/operations.md"), "utf8")
        const yml = /```yaml\n# prometheus\.yml\n([\s\S]*?)```/.exec(doc)?.[1] ?? ""
        const host = (text: string) => text.replaceAll("/etc/prometheus/", `${dir}/`)
        fs.writeFileSync(path.join(dir, "prometheus.yml"), host(yml))
        for (const line of lines.slice(0, 2)) {
          const ran = yield* sh(host(line))
          expect(ran.code, `${line}\n${ran.output}`).toBe(0)
          expect(ran.output).toContain("SUCCESS")
        }
      }),
    60_000
  )

  const hasSystemd = onPath("systemd-analyze")
  it.skipIf(!hasSystemd)(
    `systemd unit (the one \`systemctl enable --now felhom-agent\` starts): systemd-analyze verify accepts it${
      hasSystemd ? "" : " [SKIPPED: systemd-analyze is not installed; .ci/run installs systemd]"
    }`,
    () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "felhom-unit-"))
      try {
        // The one change: ExecStart names this checkout's program instead of /usr/bin/felhom-agent.
        const unit = fs.readFileSync(path.join(ROOT, "deploy/felhom-agent.service"), "utf8")
        expect(unit).toMatch(/^ExecStart=\/usr\/bin\/felhom-agent daemon --config \/etc\/felhom\/agent\.yaml$/m)
        const file = path.join(dir, "felhom-agent.service")
        fs.writeFileSync(
          file,
          unit.replace("ExecStart=/usr/bin/felhom-agent", `ExecStart=${path.join(ROOT, "bin/felhom-agent.js")}`)
        )
        const result = ChildProcess.spawnSync("systemd-analyze", ["verify", file], {
          encoding: "utf8",
          timeout: 30_000
        })
        expect(result.status, `${result.stdout}${result.stderr}`).toBe(0)
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }
  )
})
