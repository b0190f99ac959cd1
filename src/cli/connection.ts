/**
 * PVE connection flags shared by every command that talks to PVE. Each flag falls back to its
 * `FELHOM_*` environment variable, so systemd units and shells configure it the same way. Part
 * of the command tree read at every start; the layers they describe are connectionLayer.ts.
 */
import { Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Config, Data, Effect, Layer, Option } from "effect"
import { fileErrorReason } from "../domain/fileError.js"
import { Pve } from "../pve/Pve.js"
import { makeConnectionSettings, PveConnection } from "../pve/PveConnection.js"
import { parsePveToken } from "../pve/PveToken.js"

/** A text option that falls back to an environment variable, which its description names. */
const fromEnv = (name: string, env: string, description: string) =>
  Options.text(name).pipe(Options.withFallbackConfig(Config.string(env)), Options.withDescription(`${description} (env ${env})`))

export const connectionOptions = {
  pveUrl: fromEnv("pve-url", "FELHOM_PVE_URL", "PVE API base URL, e.g. https://pve1:8006"),
  tokenFile: fromEnv("token-file", "FELHOM_PVE_TOKEN_FILE", "file holding USER@REALM!TOKENID=SECRET"),
  fingerprint: fromEnv(
    "fingerprint",
    "FELHOM_PVE_FINGERPRINT",
    "pin the PVE leaf certificate's SHA-256 (AB:CD:… as in GET /nodes ssl_fingerprint)"
  ).pipe(Options.optional),
  caFile: fromEnv("ca-file", "FELHOM_PVE_CA_FILE", "CA certificate (PEM) that signed PVE's certificate, e.g. pve-root-ca.pem").pipe(
    Options.optional
  ),
  insecureHttp: Options.boolean("insecure-http").pipe(
    Options.withDescription("allow plain http to a non-loopback PVE host (never do this in production)")
  )
}

export interface ConnectionFlags {
  readonly pveUrl: string
  readonly tokenFile: string
  readonly fingerprint: Option.Option<string>
  readonly caFile: Option.Option<string>
  readonly insecureHttp: boolean
}

export class FileUnreadable extends Data.TaggedError("FileUnreadable")<{ readonly what: string; readonly path: string; readonly reason: string }> {
  override get message(): string {
    return `cannot read ${this.what} ${this.path}: ${this.reason}`
  }
}

const readFile = (what: string, path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(
    Effect.mapError((e) => new FileUnreadable({ what, path, reason: fileErrorReason(e) }))
  )

/** The `PveConnection` described by the flags, validated before anything connects. */
export const connectionLayer = (flags: ConnectionFlags) =>
  Layer.effect(
    PveConnection,
    Effect.gen(function*() {
      const token = yield* Effect.flatMap(readFile("token file", flags.tokenFile), parsePveToken)
      const caPem = yield* Option.match(flags.caFile, {
        onNone: () => Effect.succeed(undefined),
        onSome: (path) => readFile("CA file", path)
      })
      return yield* makeConnectionSettings({
        url: flags.pveUrl,
        token,
        fingerprint: Option.getOrUndefined(flags.fingerprint),
        caPem,
        insecureHttp: flags.insecureHttp
      })
    })
  )

export const pveLayer = (flags: ConnectionFlags) => Pve.layer.pipe(Layer.provide(connectionLayer(flags)))
