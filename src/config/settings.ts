/**
 * The agent's settings as a Schema: the one place every key, its type, its default and its
 * meaning are written down. A config file and `FELHOM_*` variables are decoded through it,
 * unknown keys refused, so a typo is an error that names the key — never a silent default.
 */
import { Duration, Option, ParseResult, Schema } from "effect"
import { NodeName } from "../domain/Guest.js"
import { DEFAULT_STATE_DIR } from "./stateDir.js"

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }

/** "30s", "500ms", "5m", "1h", or Effect's own "30 seconds"; a bare number is seconds. */
export const DurationSetting = Schema.transformOrFail(
  Schema.Union(Schema.String, Schema.Number),
  Schema.DurationFromSelf,
  {
    strict: true,
    decode: (input, _, ast) => {
      const bad = () =>
        ParseResult.fail(
          new ParseResult.Type(
            ast,
            input,
            `expected a duration like "30s", "500ms", "5m", got ${JSON.stringify(input)}`
          )
        )
      if (typeof input === "number") {
        return input >= 0 && Number.isFinite(input)
          ? ParseResult.succeed(Duration.seconds(input))
          : bad()
      }
      const short = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/.exec(input.trim())
      if (short !== null) {
        return ParseResult.succeed(Duration.millis(Number(short[1]) * (UNIT_MS[short[2] ?? "s"] ?? 1_000)))
      }
      return Option.match(Duration.decodeUnknown(input.trim()), { onNone: bad, onSome: ParseResult.succeed })
    },
    encode: (d) => ParseResult.succeed(`${Duration.toMillis(d)}ms`)
  }
)

/** `host:port`; the health server listens on loopback unless told otherwise. */
export const ListenSetting = Schema.String.pipe(
  Schema.pattern(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, {
    message: () => "expected host:port, e.g. 127.0.0.1:9105"
  })
)

const PositiveInt = Schema.Int.pipe(Schema.positive())

/** A pinned leaf certificate: SHA-256 in PVE's uppercase colon form (GET /nodes ssl_fingerprint). */
const Fingerprint = Schema.String.pipe(Schema.pattern(/^([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}$/, {
  message: () => "expected a SHA-256 fingerprint in PVE's form: 32 hex pairs joined by ':'"
}))
const withDefault = <A, I>(schema: Schema.Schema<A, I>, value: () => I) =>
  Schema.optionalWith(schema, { default: () => Schema.decodeSync(schema)(value()) })

export const PveSettings = Schema.Struct({
  url: Schema.String,
  /** Token file; defaults to the systemd credential `pve-token` when that exists. */
  tokenFile: Schema.optional(Schema.String),
  fingerprint: Schema.optional(Fingerprint),
  caFile: Schema.optional(Schema.String),
  insecureHttp: withDefault(Schema.Boolean, () => false),
  requestTimeout: withDefault(DurationSetting, () => "30s"),
  /** pveproxy serves 3 requests at a time (its 3 workers, pve-manager `PVE::Service::pveproxy`). */
  concurrency: withDefault(PositiveInt, () => 3)
})

export const DesiredSettings = Schema.Struct({
  /** `empty` (the default: zero mutations), `file`, or `hub`. */
  source: withDefault(Schema.Literal("empty", "file", "hub"), () => "empty" as const),
  file: Schema.optional(Schema.String),
  pollInterval: withDefault(DurationSetting, () => "5s")
})

export const HubSettings = Schema.Struct({
  url: Schema.String,
  tokenFile: Schema.optional(Schema.String),
  caFile: Schema.optional(Schema.String),
  fingerprint: Schema.optional(Fingerprint),
  pollInterval: withDefault(DurationSetting, () => "30s")
})

export const ReconcileSettings = Schema.Struct({
  interval: withDefault(DurationSetting, () => "30s"),
  /** Guests mutated at once (GuestQueue's global bound). */
  concurrency: withDefault(PositiveInt, () => 4),
  shutdownTimeout: withDefault(DurationSetting, () => "60s"),
  taskDeadline: withDefault(DurationSetting, () => "10m")
})

export const SignedOpsSettings = Schema.Struct({
  skew: withDefault(DurationSetting, () => "60s"),
  maxLifetime: withDefault(DurationSetting, () => "1h"),
  nonceCapacity: withDefault(PositiveInt, () => 100_000)
})

export const GateSettings = Schema.Struct({
  /**
   * Config keys automatic reconcile may write, beyond the always-benign defaults (description,
   * tags, onboot, name, protection, startup). Anything else needs a signed op.
   */
  allowKeys: withDefault(Schema.Array(Schema.String.pipe(Schema.pattern(/^[a-z][a-z0-9_-]*$/))), () => []),
  /** Take a safety snapshot before every rollback, so the rollback itself can be reverted. */
  safetySnapshot: withDefault(Schema.Boolean, () => false)
})

/**
 * An OTLP/HTTP collector's base URL (`http://127.0.0.1:4318`); spans go to `<url>/v1/traces`,
 * as OTEL_EXPORTER_OTLP_ENDPOINT would send them. No credentials in it: `config check` prints
 * settings, and a collector that needs auth belongs behind a local collector anyway.
 */
export const OtlpEndpoint = Schema.String.pipe(Schema.filter((text) => {
  const url = URL.canParse(text) ? new URL(text) : undefined
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    return "expected an http(s) URL, e.g. http://127.0.0.1:4318"
  }
  if (url.username !== "" || url.password !== "") return "must not carry credentials"
  if (url.search !== "" || url.hash !== "") return "must not carry a query or fragment"
  return true
}))

export const TelemetrySettings = Schema.Struct({
  /**
   * Where traces go (OTLP over HTTP, JSON). Absent: no tracer is installed at all, nothing is
   * sent and log lines carry no trace ids.
   */
  otlpEndpoint: Schema.optional(OtlpEndpoint),
  /** The resource's `service.name`; the agent id is added as `service.instance.id`. */
  serviceName: withDefault(Schema.NonEmptyString, () => "felhom-agent")
})

export { DEFAULT_STATE_DIR }

/** An agent id: what the hub and signed ops (`aud`) know this agent by. */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

export const Settings = Schema.Struct({
  /** Default: the host name (AgentConfig.ts withAgentId); with a hub, the name the hub knows. */
  agentId: Schema.String.pipe(Schema.pattern(AGENT_ID_PATTERN, {
    message: () => "agentId must be 1-128 characters of letters, digits, '.', '_' or '-'"
  })),
  stateDir: withDefault(Schema.String, () => DEFAULT_STATE_DIR),
  /**
   * `node`: the guests on the PVE node the agent talks to, one agent per node. `cluster`: every
   * guest of the cluster, for one agent run off-host; run exactly one such agent.
   */
  scope: withDefault(Schema.Literal("node", "cluster"), () => "node" as const),
  /** This host's PVE node name, for a token that may not read GET /cluster/status (node scope). */
  node: Schema.optional(NodeName),
  pve: PveSettings,
  desired: withDefault(DesiredSettings, () => ({})),
  hub: Schema.optional(HubSettings),
  signersFile: Schema.optional(Schema.String),
  reconcile: withDefault(ReconcileSettings, () => ({})),
  signedOps: withDefault(SignedOpsSettings, () => ({})),
  gate: withDefault(GateSettings, () => ({})),
  health: withDefault(Schema.Struct({ listen: withDefault(ListenSetting, () => "127.0.0.1:9105") }), () => ({})),
  log: withDefault(
    Schema.Struct({
      format: withDefault(Schema.Literal("logfmt", "json"), () => "logfmt" as const),
      level: withDefault(Schema.Literal("debug", "info", "warning", "error"), () => "info" as const)
    }),
    () => ({})
  ),
  telemetry: withDefault(TelemetrySettings, () => ({})),
  /** How long SIGTERM waits for in-flight ops to reach a journaled phase. */
  shutdownGrace: withDefault(DurationSetting, () => "30s")
})
export type Settings = typeof Settings.Type
