/**
 * AgentConfig: every setting, read once at start-up from an optional config file (YAML or
 * JSON; `--config` or `FELHOM_CONFIG`) with `FELHOM_*` variables layered on top, then the
 * secrets from files — including systemd credentials in `$CREDENTIALS_DIRECTORY`. A bad
 * setting is one error naming each bad key; secrets stay `Redacted`.
 */
import { FileSystem, Path } from "@effect/platform"
import { Config, Context, Data, Effect, Layer, Option, ParseResult, Redacted, Schema } from "effect"
import * as os from "node:os"
import * as Yaml from "yaml"
import { parsePveToken, type PveToken } from "../pve/PveToken.js"
import { AGENT_ID_PATTERN, Settings } from "./settings.js"

export class ConfigInvalid extends Data.TaggedError("ConfigInvalid")<{
  readonly source: string
  readonly issues: ReadonlyArray<{ readonly path: string; readonly message: string }>
}> {
  override get message(): string {
    return `invalid configuration (${this.source}): ${this.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`
  }
}

export interface AgentConfigShape {
  readonly settings: Settings
  readonly pveToken: PveToken
  readonly hubToken: Option.Option<Redacted.Redacted<string>>
  /** Where each secret came from, for `config check`; never the secret itself. */
  readonly secretSources: Readonly<Record<string, string>>
}

export class AgentConfig extends Context.Tag("felhom/AgentConfig")<AgentConfig, AgentConfigShape>() {
  static readonly layer = (options: { readonly configPath: Option.Option<string> }) =>
    Layer.effect(AgentConfig, load(options.configPath))
}

/** `FELHOM_*` variable → settings path. Every documented variable, nothing implicit. */
export const ENV_KEYS: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["FELHOM_AGENT_ID", ["agentId"]],
  ["FELHOM_STATE_DIR", ["stateDir"]],
  ["FELHOM_SCOPE", ["scope"]],
  ["FELHOM_NODE", ["node"]],
  ["FELHOM_PVE_URL", ["pve", "url"]],
  ["FELHOM_PVE_TOKEN_FILE", ["pve", "tokenFile"]],
  ["FELHOM_PVE_FINGERPRINT", ["pve", "fingerprint"]],
  ["FELHOM_PVE_CA_FILE", ["pve", "caFile"]],
  ["FELHOM_DESIRED_SOURCE", ["desired", "source"]],
  ["FELHOM_DESIRED_FILE", ["desired", "file"]],
  ["FELHOM_HUB_URL", ["hub", "url"]],
  ["FELHOM_HUB_TOKEN_FILE", ["hub", "tokenFile"]],
  ["FELHOM_SIGNERS_FILE", ["signersFile"]],
  ["FELHOM_RECONCILE_INTERVAL", ["reconcile", "interval"]],
  ["FELHOM_HEALTH_LISTEN", ["health", "listen"]],
  ["FELHOM_LOG_FORMAT", ["log", "format"]],
  ["FELHOM_LOG_LEVEL", ["log", "level"]],
  ["FELHOM_OTLP_ENDPOINT", ["telemetry", "otlpEndpoint"]]
]

type Raw = { [key: string]: unknown }
const isRecord = (u: unknown): u is Raw => typeof u === "object" && u !== null && !Array.isArray(u)

const setPath = (target: Raw, path: ReadonlyArray<string>, value: string): Raw => {
  const [head, ...rest] = path
  if (head === undefined) return target
  if (rest.length === 0) return { ...target, [head]: value }
  const child = target[head]
  return { ...target, [head]: setPath(isRecord(child) ? child : {}, rest, value) }
}

const readConfigFile = (path: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* Effect.mapError(fs.readFileString(path), (e) =>
      new ConfigInvalid({ source: path, issues: [{ path: "(file)", message: `cannot read: ${e.message}` }] }))
    const doc = yield* Effect.try({
      try: () =>
        Yaml.parse(text) as unknown,
      // The parser's message may quote file content; keep only its position.
      catch: (e) =>
        new ConfigInvalid({
          source: path,
          issues: [{
            path: "(file)",
            message: `not valid YAML/JSON${
              e instanceof Yaml.YAMLParseError ? ` at line ${e.linePos?.[0]?.line ?? "?"}` : ""
            }`
          }]
        })
    })
    if (doc === null || doc === undefined) return {}
    if (!isRecord(doc)) {
      return yield* new ConfigInvalid({
        source: path,
        issues: [{ path: "(file)", message: "expected a mapping of settings" }]
      })
    }
    return doc
  })

const withEnv = (raw: Raw) =>
  Effect.reduce(
    ENV_KEYS,
    raw,
    (acc, [name, path]) =>
      Effect.map(
        Effect.orDie(Config.option(Config.string(name))),
        Option.match({ onNone: () => acc, onSome: (v) => setPath(acc, path, v) })
      )
  )

/** Cross-key rules the per-key schema cannot state. */
const consistency = (s: Settings): ReadonlyArray<Issue> => [
  ...(s.desired.source === "file" && s.desired.file === undefined
    ? [{ path: "desired.file", message: "is required when desired.source is \"file\"" }]
    : []),
  ...(s.desired.source === "hub" && s.hub === undefined
    ? [{ path: "hub", message: "is required when desired.source is \"hub\"" }]
    : []),
  ...(s.pve.fingerprint !== undefined && s.pve.caFile !== undefined
    ? [{ path: "pve.fingerprint", message: "give either pve.fingerprint or pve.caFile, not both" }]
    : [])
]

type Issue = { readonly path: string; readonly message: string }

/** `pve.url`; a key that is empty or not a plain word is quoted, so every path is unambiguous. */
const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.length === 0
    ? "(root)"
    : path.map((k, i) => {
      const key = String(k)
      if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return i === 0 ? key : `.${key}`
      return `[${JSON.stringify(key)}]`
    }).join("")

/**
 * An optional key decodes as `X | undefined`, so a bad value also fails the `undefined`
 * branch; that echo says nothing the real issue does not, and is dropped.
 */
const withoutUndefinedEcho = (issues: ReadonlyArray<Issue>): ReadonlyArray<Issue> =>
  issues.filter((issue) =>
    !issue.message.startsWith("Expected undefined") ||
    !issues.some((other) =>
      other !== issue && !other.message.startsWith("Expected undefined") &&
      (other.path === issue.path || other.path.startsWith(`${issue.path}.`) || issue.path === "(root)")
    )
  )

/**
 * `desired.source` may be left out: a configured `desired.file` means "file", else a
 * configured `hub` means "hub", else the Empty provider (zero mutations).
 */
const withDesiredSource = (raw: unknown): unknown => {
  if (!isRecord(raw)) return raw
  const desired = isRecord(raw["desired"]) ? raw["desired"] : {}
  if (desired["source"] !== undefined) return raw
  const source = desired["file"] !== undefined ? "file" : raw["hub"] !== undefined ? "hub" : undefined
  return source === undefined ? raw : { ...raw, desired: { ...desired, source } }
}

/**
 * `agentId` may be left out: the host name stands in, as one agent runs per PVE node. With a
 * hub it must be exactly the name the hub knows, so a host name that is not a valid id is not
 * repaired there (the hub key stays missing and is reported); without one, it is made valid.
 */
export const withAgentId = (raw: unknown, hostname: string): unknown => {
  if (!isRecord(raw) || raw["agentId"] !== undefined) return raw
  if (AGENT_ID_PATTERN.test(hostname)) return { ...raw, agentId: hostname }
  if (raw["hub"] !== undefined) return raw
  const repaired = hostname.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 128)
  return { ...raw, agentId: repaired === "" ? "felhom-agent" : repaired }
}

export const decodeSettings = (raw: unknown, source: string) =>
  Effect.flatMap(
    Effect.mapError(
      Schema.decodeUnknown(Settings)(withDesiredSource(raw), { errors: "all", onExcessProperty: "error" }),
      (error) =>
        new ConfigInvalid({
          source,
          issues: withoutUndefinedEcho(
            ParseResult.ArrayFormatter.formatErrorSync(error).map((i) => ({
              path: formatPath(i.path),
              message: i.message
            }))
          )
        })
    ),
    (settings) => {
      const issues = consistency(settings)
      return issues.length > 0 ? Effect.fail(new ConfigInvalid({ source, issues })) : Effect.succeed(settings)
    }
  )

/** A secret file named by a setting, else the systemd credential of that name, else none. */
const secretFile = (setting: string | undefined, credential: string) =>
  Effect.gen(function*() {
    if (setting !== undefined) return Option.some({ path: setting, source: setting })
    const dir = yield* Effect.orDie(Config.option(Config.string("CREDENTIALS_DIRECTORY")))
    if (Option.isNone(dir)) return Option.none()
    const path = (yield* Path.Path).join(dir.value, credential)
    const exists = yield* Effect.orElseSucceed((yield* FileSystem.FileSystem).exists(path), () => false)
    return exists ? Option.some({ path, source: `systemd credential ${credential}` }) : Option.none()
  })

const readSecret = (what: string, path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(
    Effect.mapError((e) =>
      new ConfigInvalid({
        source: path,
        issues: [{
          path: what,
          message: `cannot read the secret file: ${e._tag === "SystemError" ? e.reason : e.message}`
        }]
      })
    )
  )

export const load = (configPath: Option.Option<string>) =>
  Effect.gen(function*() {
    const envPath = yield* Effect.orDie(Config.option(Config.string("FELHOM_CONFIG")))
    const path = Option.orElse(configPath, () => envPath)
    const source = Option.getOrElse(path, () => "environment")
    const raw = yield* withEnv(Option.isSome(path) ? yield* readConfigFile(path.value) : {})
    const settings = yield* decodeSettings(withAgentId(raw, os.hostname()), source)
    const pveFile = yield* secretFile(settings.pve.tokenFile, "pve-token")
    if (Option.isNone(pveFile)) {
      return yield* new ConfigInvalid({
        source,
        issues: [{ path: "pve.tokenFile", message: "is required (or a systemd credential named pve-token)" }]
      })
    }
    const pveToken = yield* Effect.flatMap(readSecret("pve.tokenFile", pveFile.value.path), (text) =>
      Effect.mapError(parsePveToken(text), (e) =>
        new ConfigInvalid({ source, issues: [{ path: "pve.tokenFile", message: e.reason }] })))
    const hubFile = settings.hub === undefined ? Option.none() : yield* secretFile(settings.hub.tokenFile, "hub-token")
    const hubToken = yield* Option.match(hubFile, {
      onNone: () =>
        Effect.succeed(Option.none<Redacted.Redacted<string>>()),
      onSome: (f) =>
        Effect.map(readSecret("hub.tokenFile", f.path), (t) => Option.some(Redacted.make(t.trim())))
    })
    const secretSources: Record<string, string> = { "pve token": pveFile.value.source }
    if (Option.isSome(hubFile)) secretSources["hub token"] = hubFile.value.source
    return { settings, pveToken, hubToken, secretSources } satisfies AgentConfigShape
  })
