/**
 * The layer graph of the daemon, built from validated settings: every service
 * (docs/architecture.md, "The parts") composed once. Only the edges differ from the CLI and the
 * tests (PVE over HTTPS, the state database file, the hub), so what is tested here is what runs.
 */
import { FileSystem } from "@effect/platform"
import { Duration, Effect, Layer, LogLevel, Option } from "effect"
import { loadSigners, noSigners, type Signers } from "../authz/Signers.js"
import { SignedOps } from "../authz/SignedOps.js"
import type { AgentConfigShape } from "../config/AgentConfig.js"
import { ConfigInvalid } from "../config/AgentConfig.js"
import type { Settings } from "../config/settings.js"
import { HubClient } from "../hub/HubClient.js"
import { HubDesiredProvider } from "../hub/HubDesiredProvider.js"
import { parseHubUrl } from "../hub/hubToken.js"
import { Pve } from "../pve/Pve.js"
import { makeConnectionSettings, PveConnection } from "../pve/PveConnection.js"
import { type DesiredFileError, DesiredProvider, parseDesiredBytes, readDocumentBytes } from "../reconcile/DesiredProvider.js"
import type { HubStoreError } from "../hub/HubError.js"
import type { StateStore } from "../state/StateStore.js"
import { Logging } from "./Logging.js"

export const seconds = (d: Duration.Duration): number => Math.round(Duration.toSeconds(d))

const configError = (path: string, message: string) => new ConfigInvalid({ source: "settings", issues: [{ path, message }] })

const readText = (what: string, path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(
    Effect.mapError((e) => configError(what, `cannot read ${path}: ${e.message}`))
  )

export const loggingLayer = (settings: Settings) =>
  Logging.layer({
    format: settings.log.format,
    level: { debug: LogLevel.Debug, info: LogLevel.Info, warning: LogLevel.Warning, error: LogLevel.Error }[settings.log.level],
    traceContext: settings.telemetry.otlpEndpoint !== undefined
  })

/** The PVE connection settings (URL, token, TLS trust), checked without connecting. */
export const pveConnectionOf = (config: AgentConfigShape) =>
  Effect.gen(function*() {
    const { pve } = config.settings
    const caPem = pve.caFile === undefined ? undefined : yield* readText("pve.caFile", pve.caFile)
    return yield* makeConnectionSettings({
      url: pve.url,
      token: config.pveToken,
      fingerprint: pve.fingerprint,
      caPem,
      insecureHttp: pve.insecureHttp,
      requestTimeout: pve.requestTimeout,
      concurrency: pve.concurrency
    }).pipe(Effect.mapError((e) => configError("pve", e.reason)))
  })

/** The PVE client over the configured URL, token and TLS trust. */
export const pveLayer = (config: AgentConfigShape) =>
  Pve.layer.pipe(Layer.provide(Layer.effect(PveConnection, pveConnectionOf(config))))

/**
 * The signers file, or none: no signers is a supported state (every signed op and hub
 * document is refused with that reason, and the daemon keeps running — invariant 6).
 */
export const signersOf = (settings: Settings): Effect.Effect<Signers, ConfigInvalid, FileSystem.FileSystem> =>
  settings.signersFile === undefined
    ? Effect.succeed(noSigners())
    : loadSigners(settings.signersFile).pipe(Effect.mapError((e) => configError("signersFile", e.message)))

export const signedOpsLayer = (settings: Settings, signers: Signers) =>
  SignedOps.layer({
    agentId: settings.agentId,
    signers,
    skew: seconds(settings.signedOps.skew),
    maxLifetime: seconds(settings.signedOps.maxLifetime)
  })

/**
 * A desired-state file must exist and decode before the daemon starts anything: a typo in it
 * is an error naming every bad path, not a daemon that comes up and then dies.
 */
export const checkDesiredFile = (settings: Settings): Effect.Effect<void, DesiredFileError, FileSystem.FileSystem> =>
  settings.desired.source !== "file" || settings.desired.file === undefined
    ? Effect.void
    : Effect.gen(function*() {
      const path = settings.desired.file ?? ""
      const bytes = yield* readDocumentBytes(path)
      yield* parseDesiredBytes(bytes, path)
    })

/** The hub-backed provider; one layer value, so the reconciler and the hub loop share it. */
export const hubDesiredLayer = (settings: Settings, signers: Signers) =>
  HubDesiredProvider.layer({ agentId: settings.agentId, signers, skew: seconds(settings.signedOps.skew) })

/** Where the desired state comes from: Empty by default (zero mutations, invariant 7). */
export const desiredLayer = (
  settings: Settings,
  hub: Layer.Layer<DesiredProvider, HubStoreError, StateStore>
): Layer.Layer<DesiredProvider, DesiredFileError | HubStoreError, FileSystem.FileSystem | StateStore> => {
  switch (settings.desired.source) {
    case "empty":
      return DesiredProvider.Empty
    case "file":
      return DesiredProvider.File({ path: settings.desired.file ?? "", pollInterval: settings.desired.pollInterval })
    case "hub":
      return hub
  }
}

/** The hub client's settings (URL, bearer token, CA), checked without connecting. */
export const hubClientSettingsOf = (config: AgentConfigShape) =>
  Effect.gen(function*() {
    const hub = config.settings.hub
    if (hub === undefined) return yield* configError("hub", "is required when desired.source is \"hub\"")
    const url = yield* Effect.mapError(parseHubUrl(hub.url), (reason) => configError("hub.url", reason))
    const token = yield* Option.match(config.hubToken, {
      onNone: () => Effect.fail(configError("hub.tokenFile", "is required (or a systemd credential named hub-token)")),
      onSome: Effect.succeed
    })
    if (hub.caFile !== undefined && hub.fingerprint !== undefined) {
      return yield* configError("hub.fingerprint", "give either hub.fingerprint or hub.caFile, not both")
    }
    const caPem = hub.caFile === undefined ? undefined : yield* readText("hub.caFile", hub.caFile)
    return { url, agentId: config.settings.agentId, token, caPem, fingerprint: hub.fingerprint, requestTimeout: config.settings.pve.requestTimeout }
  })

export const hubClientLayer = (config: AgentConfigShape) => Layer.unwrapEffect(Effect.map(hubClientSettingsOf(config), HubClient.layer))
