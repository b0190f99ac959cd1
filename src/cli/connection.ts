/**
 * PVE connection flags shared by every command that talks to PVE. Each flag falls back to its
 * `FELHOM_*` environment variable, so systemd units and shells configure it the same way.
 */
import { Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Config, Data, Effect, Layer, Option } from "effect"
import { Pve } from "../pve/Pve.js"
import { makeConnectionSettings, PveConnection } from "../pve/PveConnection.js"
import { parsePveToken } from "../pve/PveToken.js"

const fromEnv = <A>(option: Options.Options<A>, name: string, config: Config.Config<A>) =>
  option.pipe(Options.withFallbackConfig(config), Options.withDescription(`(env ${name})`))

export const connectionOptions = {
  pveUrl: fromEnv(Options.text("pve-url"), "FELHOM_PVE_URL", Config.string("FELHOM_PVE_URL")).pipe(
    Options.withDescription("PVE API base URL, e.g. https://pve1:8006")
  ),
  tokenFile: fromEnv(Options.text("token-file"), "FELHOM_PVE_TOKEN_FILE", Config.string("FELHOM_PVE_TOKEN_FILE")).pipe(
    Options.withDescription("file holding USER@REALM!TOKENID=SECRET")
  ),
  fingerprint: fromEnv(Options.text("fingerprint"), "FELHOM_PVE_FINGERPRINT", Config.string("FELHOM_PVE_FINGERPRINT")).pipe(
    Options.withDescription("pin the PVE leaf certificate's SHA-256 (AB:CD:… as in GET /nodes ssl_fingerprint)"),
    Options.optional
  ),
  caFile: fromEnv(Options.text("ca-file"), "FELHOM_PVE_CA_FILE", Config.string("FELHOM_PVE_CA_FILE")).pipe(
    Options.withDescription("CA certificate (PEM) that signed PVE's certificate, e.g. pve-root-ca.pem"),
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
    Effect.mapError((e) => new FileUnreadable({ what, path, reason: e.message }))
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
