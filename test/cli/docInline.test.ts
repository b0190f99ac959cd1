/**
 * The commands README.md and docs/ name inline (`felhom-agent status` in a runbook line, `journal
 * show OP_ID` in prose), each run once as written, its placeholder filled with a real value:
 * against `felhom-agent sim` and a daemon serving the state directory, in this process
 * (support/cliInProcess.ts). Each must do its job (its documented exit code), so a renamed
 * command or option cannot linger in the docs. The shell blocks are run word for word by
 * docCommands.process.test.ts and the walk-throughs.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { ROOT } from "../support/cli.js"
import { runCliInProcess, startCliInProcess } from "../support/cliInProcess.js"
import { freePort, health, pollUntil, tempDir } from "../support/daemon.js"
import { words } from "../support/docBlocks.js"

const DOCS = [
  "README.md",
  ...fs.readdirSync(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)
]

/** Every distinct inline `felhom-agent …` span, but the bare `felhom-agent …` ellipsis. */
const inline = [
  ...new Set(
    DOCS.flatMap((doc) =>
      [...fs.readFileSync(path.join(ROOT, doc), "utf8").matchAll(/`(felhom-agent [^`]+)`/g)].map((m) => m[1] ?? "")
    ).filter((c) => c !== "felhom-agent …")
  )
]

/** Exit codes each command documents: status 0 with a daemon; plan 0 or 2. */
const OK: Readonly<Record<string, ReadonlyArray<number>>> = { plan: [0, 2] }

describe("inline commands in README.md and docs/", () => {
  it.scopedLive("each runs as written, its placeholder filled, and succeeds", () =>
    Effect.gen(function*() {
      expect(inline.length).toBeGreaterThan(5)
      const dir = yield* tempDir("felhom-inline-")
      const sim = yield* startCliInProcess([
        "sim",
        "--port",
        "0",
        "--control-port",
        "0",
        "--dir",
        path.join(dir, "sim")
      ])
      const banner = yield* pollUntil("the simulator's banner", Effect.sync(sim.stdout), (o) => o.includes("try: "))
      const env = {
        FELHOM_PVE_URL: /listening on (https:\/\/\S+)/.exec(banner)?.[1] ?? "",
        FELHOM_PVE_TOKEN_FILE: path.join(dir, "sim", "token"),
        FELHOM_PVE_FINGERPRINT: /fingerprint: (\S+)/.exec(banner)?.[1] ?? "",
        FELHOM_STATE_DIR: path.join(dir, "state")
      }
      const port = yield* freePort
      const config = path.join(dir, "agent.json")
      fs.writeFileSync(
        config,
        JSON.stringify({
          stateDir: env.FELHOM_STATE_DIR,
          pve: {
            url: env.FELHOM_PVE_URL,
            tokenFile: env.FELHOM_PVE_TOKEN_FILE,
            fingerprint: env.FELHOM_PVE_FINGERPRINT
          },
          health: { listen: `127.0.0.1:${port}` }
        })
      )
      // KEY: the keys the gate refuses in the example (--allow-keys takes a list).
      const fill = (command: string, opId: string) =>
        command.replace("FILE", words(command)[1] === "daemon" ? config : "examples/desired.yaml")
          .replace("KEY", "memory,cores").replace(" N ", " 9000 ").replace("OP_ID", opId)
      // The long-running ones are started and stopped: the simulator with nodes, the daemon.
      const daemonLine = inline.find((c) => words(c)[1] === "daemon") ?? ""
      expect(daemonLine).toBe("felhom-agent daemon --config FILE")
      const daemon = yield* startCliInProcess(words(fill(daemonLine, "")).slice(1), env)
      yield* pollUntil("the daemon ready", health(port, "/readyz"), (a) => a.status === 200, { context: daemon.output })
      for (const line of inline.filter((c) => words(c)[1] === "sim")) {
        const args = words(line).slice(1).concat([
          "--port",
          "0",
          "--control-port",
          "0",
          "--dir",
          path.join(dir, "sims")
        ])
        const other = yield* startCliInProcess(args)
        yield* pollUntil(`banner of ${line}`, Effect.sync(other.stdout), (o) => o.includes("try: "))
        expect((yield* other.stop).code, line).toBe(0)
      }
      // apply first: journal show needs an op id it made.
      const ordered = [
        ...inline.filter((c) => words(c)[1] === "apply"),
        ...inline.filter((c) => !["apply", "daemon", "sim"].includes(words(c)[1] ?? ""))
      ]
      // Every span is run: the daemon, the simulators, the rest.
      expect(1 + inline.filter((c) => words(c)[1] === "sim").length + ordered.length).toBe(inline.length)
      let opId = ""
      for (const line of ordered) {
        const r = yield* runCliInProcess(words(fill(line, opId)).slice(1), env)
        expect(OK[words(line)[1] ?? ""] ?? [0], `${line}\n${r.stderr}`).toContain(r.code)
        if (words(line)[1] === "apply") opId = /\(op ([0-9a-f-]+)\)/.exec(r.stdout)?.[1] ?? ""
        if (words(line)[1] === "apply") expect(opId, r.stdout).not.toBe("")
      }
      expect((yield* daemon.stop).code).toBe(0)
    }), 120_000)
})
