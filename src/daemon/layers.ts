/**
 * The layer graph of the daemon, built from validated settings: every service
 * (docs/architecture.md, "The parts") composed once. Only the edges differ from the CLI and the
 * tests (PVE over HTTPS, the state database file, the hub), so what is tested here is what runs.
 * The hub's layers are in hubLayers.ts, loaded only when the hub is the desired source.
 */
import { FileSystem } from "@effect/platform"
import { Duration, Effect, Layer, LogLevel } from "effect"
import { SignedOps } from "../authz/SignedOps.js"
import { loadSigners, noSigners, type Signers } from "../authz/Signers.js"
import type { AgentConfigShape } from "../config/AgentConfig.js"
import { ConfigInvalid } from "../config/AgentConfig.js"
import type { Settings } from "../config/settings.js"
import { Pve } from "../pve/Pve.js"
import { makeConnectionSettings, PveConnection } from "../pve/PveConnection.js"
import {
  type DesiredFileError,
  DesiredProvider,
  parseDesiredBytes,
  readDocumentBytes
} from "../reconcile/DesiredProvider.js"
import { Logging } from "./Logging.js"

export const seconds = (d: Duration.Duration): number => Math.round(Duration.toSeconds(d))

export const configError = (path: string, message: string) =>
  new ConfigInvalid({ source: "settings", issues: [{ path, message }] })

export const readText = (what: string, path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(
    Effect.mapError((e) => configError(what, `cannot read ${path}: ${e.message}`))
  )

export const loggingLayer = (settings: Settings) =>
  Logging.layer({
    format: settings.log.format,
    level: {
      debug: LogLevel.Debug,
      info: LogLevel.Info,
      warning: LogLevel.Warning,
      error: LogLevel.Error
    }[settings.log.level],
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

/**
 * Where the desired state comes from unless it is the hub (hubLayers.ts, loaded only then):
 * Empty by default (zero mutations, invariant 7), or a file.
 */
export const localDesiredLayer = (
  settings: Settings
): Layer.Layer<DesiredProvider, DesiredFileError, FileSystem.FileSystem> =>
  settings.desired.source === "file"
    ? DesiredProvider.File({ path: settings.desired.file ?? "", pollInterval: settings.desired.pollInterval })
    : DesiredProvider.Empty
