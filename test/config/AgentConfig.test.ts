import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, Layer, Option, Redacted } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { decodeSettings, load, withAgentId } from "../../src/config/AgentConfig.js"
import { runCliInProcess as runCli } from "../support/cliInProcess.js"

const SECRET = "7d9e1c2b-aaaa-bbbb-cccc-0123456789ab"

const dir = () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "felhom-config-"))
const write = (d: string, name: string, text: string) => {
  const p = Path.join(d, name)
  Fs.writeFileSync(p, text, { mode: 0o600 })
  return p
}

/** `load` with exactly these environment variables. */
const loadWith = (configPath: string | undefined, env: Record<string, string>) =>
  load(Option.fromNullable(configPath)).pipe(
    Effect.provide(
      Layer.merge(NodeContext.layer, Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
    )
  )

describe("AgentConfig", () => {
  it.effect("agentId defaults to the host name; with a hub a host name that is no valid id stays required", () =>
    Effect.gen(function*() {
      const d = dir()
      const token = write(d, "token", `felhom@pve!agent=${SECRET}\n`)
      const file = write(d, "agent.yaml", `pve:\n  url: https://pve1:8006\n  tokenFile: ${token}\n`)
      const config = yield* loadWith(file, {})
      expect(config.settings.agentId).toBe(Os.hostname())
      expect(withAgentId({}, "pve1")).toEqual({ agentId: "pve1" })
      expect(withAgentId({ agentId: "set" }, "pve1")).toEqual({ agentId: "set" })
      expect(withAgentId({}, "node one!")).toEqual({ agentId: "node-one-" })
      expect(withAgentId({ hub: {} }, "node one!")).toEqual({ hub: {} })
    }))

  it.effect("a config file with defaults filled in, secrets from the token file, env on top", () =>
    Effect.gen(function*() {
      const d = dir()
      const token = write(d, "token", `felhom@pve!agent=${SECRET}\n`)
      const file = write(
        d,
        "agent.yaml",
        `agentId: host1\npve:\n  url: https://pve1:8006\n  tokenFile: ${token}\nreconcile:\n  interval: 2m\n`
      )
      const config = yield* loadWith(file, { FELHOM_LOG_FORMAT: "json", FELHOM_RECONCILE_INTERVAL: "45s" })
      expect(config.settings.agentId).toBe("host1")
      expect(Duration.toMillis(config.settings.reconcile.interval)).toBe(45_000)
      expect(config.settings.log.format).toBe("json")
      expect(config.settings.desired.source).toBe("empty")
      expect(config.settings.health.listen).toBe("127.0.0.1:9105")
      expect(config.pveToken.tokenId).toBe("felhom@pve!agent")
      expect(Redacted.value(config.pveToken.secret)).toBe(SECRET)
      expect(JSON.stringify(config)).not.toContain(SECRET)
    }))

  it.effect("environment alone is enough; the token can come from systemd's credentials directory", () =>
    Effect.gen(function*() {
      const d = dir()
      write(d, "pve-token", `felhom@pve!agent=${SECRET}`)
      const config = yield* loadWith(undefined, {
        FELHOM_AGENT_ID: "host2",
        FELHOM_PVE_URL: "https://pve2:8006",
        CREDENTIALS_DIRECTORY: d
      })
      expect(config.settings.pve.url).toBe("https://pve2:8006")
      expect(config.secretSources["pve token"]).toBe("systemd credential pve-token")
    }))

  it.effect("every bad key is named in one error, and nothing leaks", () =>
    Effect.gen(function*() {
      const d = dir()
      const token = write(d, "token", `felhom@pve!agent=${SECRET}`)
      const file = write(
        d,
        "agent.yaml",
        `agentId: "bad id"\npve:\n  url: https://pve1:8006\n  tokenFile: ${token}\n  fingerprint: AA:BB\nreconcile:\n  interval: soon\n  bogus: 1\ndesired:\n  source: file\n`
      )
      const exit = yield* Effect.exit(loadWith(file, {}))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit) && exit.cause._tag === "Fail") {
        const message = exit.cause.error.message
        for (const key of ["agentId", "pve.fingerprint", "reconcile.interval", "reconcile.bogus"]) {
          expect(message).toContain(`${key}:`)
        }
        expect(message).not.toContain("Expected undefined")
        expect(message).not.toContain(SECRET)
      }
    }))

  it.effect("odd keys are quoted in the error path, so it is never ambiguous", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        decodeSettings({ "": 1, "pve.url": 2, agentId: "a", pve: { url: "https://p" } }, "test")
      )
      const message = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error.message : ""
      expect(message).toContain("[\"\"]: is unexpected")
      expect(message).toContain("[\"pve.url\"]: is unexpected")
    }))

  it.effect("cross-key rules: desired.source file needs desired.file", () =>
    Effect.gen(function*() {
      const d = dir()
      const token = write(d, "token", `felhom@pve!agent=${SECRET}`)
      const exit = yield* Effect.exit(loadWith(undefined, {
        FELHOM_AGENT_ID: "h",
        FELHOM_PVE_URL: "https://p:8006",
        FELHOM_PVE_TOKEN_FILE: token,
        FELHOM_DESIRED_SOURCE: "file"
      }))
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error.message : "").toContain(
        "desired.file: is required"
      )
    }))

  it.effect("desired.source follows what is configured when left out: file, else hub, else empty", () =>
    Effect.gen(function*() {
      const d = dir()
      const token = write(d, "token", `felhom@pve!agent=${SECRET}`)
      const hubToken = write(d, "hub-token", "hub-bearer")
      const base = { FELHOM_AGENT_ID: "h", FELHOM_PVE_URL: "https://p:8006", FELHOM_PVE_TOKEN_FILE: token }
      expect((yield* loadWith(undefined, base)).settings.desired.source).toBe("empty")
      expect(
        (yield* loadWith(undefined, { ...base, FELHOM_HUB_URL: "https://hub", FELHOM_HUB_TOKEN_FILE: hubToken }))
          .settings.desired.source
      ).toBe("hub")
      expect(
        (yield* loadWith(undefined, {
          ...base,
          FELHOM_HUB_URL: "https://hub",
          FELHOM_HUB_TOKEN_FILE: hubToken,
          FELHOM_DESIRED_FILE: "/x.yaml"
        })).settings.desired.source
      ).toBe("file")
      // The shipped example validates.
      const example = yield* loadWith(`${process.cwd()}/deploy/agent.example.yaml`, {
        FELHOM_PVE_TOKEN_FILE: token,
        FELHOM_HUB_TOKEN_FILE: hubToken
      })
      expect(example.settings.desired.source).toBe("hub")
    }))

  it.effect("telemetry: off by default, FELHOM_OTLP_ENDPOINT turns it on, a bad URL is named", () =>
    Effect.gen(function*() {
      const d = dir()
      const token = write(d, "token", `felhom@pve!agent=${SECRET}\n`)
      const base = { FELHOM_AGENT_ID: "h", FELHOM_PVE_URL: "https://p:8006", FELHOM_PVE_TOKEN_FILE: token }
      expect((yield* loadWith(undefined, base)).settings.telemetry).toEqual({ serviceName: "felhom-agent" })
      const on = yield* loadWith(undefined, { ...base, FELHOM_OTLP_ENDPOINT: "http://127.0.0.1:4318" })
      expect(on.settings.telemetry).toEqual({ otlpEndpoint: "http://127.0.0.1:4318", serviceName: "felhom-agent" })
      for (
        const [bad, why] of [["127.0.0.1:4318", "expected an http(s) URL"], ["http://u:p@c:4318", "credentials"], [
          "http://c:4318/?k=v",
          "query"
        ]] as const
      ) {
        const exit = yield* Effect.exit(loadWith(undefined, { ...base, FELHOM_OTLP_ENDPOINT: bad }))
        const message = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error.message : ""
        expect(message).toContain("telemetry.otlpEndpoint")
        expect(message).toContain(why)
      }
    }))

  it.effect("a missing token is named", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(loadWith(undefined, { FELHOM_AGENT_ID: "h", FELHOM_PVE_URL: "https://p:8006" }))
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error.message : "").toContain(
        "pve.tokenFile: is required"
      )
    }))

  it.live("config check prints the effective settings with the secret redacted; a bad config exits 1 in one line", () =>
    Effect.gen(function*() {
      const d = dir()
      const token = write(d, "token", `felhom@pve!agent=${SECRET}`)
      const good = write(d, "good.yaml", `agentId: host1\npve:\n  url: https://pve1:8006\n  tokenFile: ${token}\n`)
      const ok = yield* runCli(["config", "check", "--config", good])
      expect(ok.code).toBe(0)
      expect(ok.stdout).toContain("agentId: host1")
      expect(ok.stdout).toContain("<redacted>")
      expect(ok.stdout + ok.stderr).not.toContain(SECRET)
      const bad = write(d, "bad.yaml", "agentId: host1\npve:\n  url: 3\n")
      const failed = yield* runCli(["config", "check", "--config", bad])
      expect(failed.code).toBe(1)
      expect(failed.stderr.trim().split("\n")).toHaveLength(1)
      expect(failed.stderr).toContain("pve.url: Expected string, actual 3")
    }))
})
