/**
 * PVE connection flags shared by every command that talks to PVE. Each flag falls back to its
 * `FELHOM_*` environment variable, so systemd units and shells configure it the same way. Part
 * of the command tree read at every start; the layers they describe are connectionLayer.ts.
 */
import { Options } from "@effect/cli"
import { Config, type Option } from "effect"

/** A text option that falls back to an environment variable, which its description names. */
const fromEnv = (name: string, env: string, description: string) =>
  Options.text(name).pipe(
    Options.withFallbackConfig(Config.string(env)),
    Options.withDescription(`${description} (env ${env})`)
  )

export const connectionOptions = {
  pveUrl: fromEnv("pve-url", "FELHOM_PVE_URL", "PVE API base URL, e.g. https://pve1:8006"),
  tokenFile: fromEnv("token-file", "FELHOM_PVE_TOKEN_FILE", "file holding USER@REALM!TOKENID=SECRET"),
  fingerprint: fromEnv(
    "fingerprint",
    "FELHOM_PVE_FINGERPRINT",
    "pin the PVE leaf certificate's SHA-256 (AB:CD:… as in GET /nodes ssl_fingerprint)"
  ).pipe(Options.optional),
  caFile: fromEnv(
    "ca-file",
    "FELHOM_PVE_CA_FILE",
    "CA certificate (PEM) that signed PVE's certificate, e.g. pve-root-ca.pem"
  ).pipe(
    Options.optional
  ),
  insecureHttp: Options.boolean("insecure-http").pipe(
    Options.withDescription("allow plain http to a non-loopback PVE host (never do this in production)")
  )
}

/**
 * The connection of a command a running daemon carries out with its own (`apply`, `revert`,
 * `op submit`, `selftest`): URL and token are needed only when no daemon serves the state
 * directory, which the parser cannot know, so they are optional here and required later
 * (connectionLayer.ts `requireConnection`).
 */
export const actingConnectionOptions = {
  ...connectionOptions,
  pveUrl: fromEnv(
    "pve-url",
    "FELHOM_PVE_URL",
    "PVE API base URL, e.g. https://pve1:8006; only without a running daemon"
  ).pipe(
    Options.optional
  ),
  tokenFile: fromEnv(
    "token-file",
    "FELHOM_PVE_TOKEN_FILE",
    "file holding USER@REALM!TOKENID=SECRET; only without a running daemon"
  ).pipe(
    Options.optional
  )
}

export interface ActingConnectionFlags extends Omit<ConnectionFlags, "pveUrl" | "tokenFile"> {
  readonly pveUrl: Option.Option<string>
  readonly tokenFile: Option.Option<string>
}

export interface ConnectionFlags {
  readonly pveUrl: string
  readonly tokenFile: string
  readonly fingerprint: Option.Option<string>
  readonly caFile: Option.Option<string>
  readonly insecureHttp: boolean
}
