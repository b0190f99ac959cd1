/**
 * Where and how to reach PVE: base URL, token, and the TLS trust decision. Never silently
 * insecure: HTTPS is verified against the system CAs, a CA file, or a pinned SHA-256 leaf
 * fingerprint; plain HTTP is accepted only for loopback (the simulator) unless the operator
 * explicitly asks for it.
 */
import { Context, Data, Duration, Effect, Layer } from "effect"
import type { PveToken } from "./PveToken.js"

export type PveTrust =
  | { readonly _tag: "SystemCa" }
  | { readonly _tag: "CaPem"; readonly pem: string }
  /** SHA-256 of the leaf certificate, PVE's uppercase colon form (GET /nodes `ssl_fingerprint`). */
  | { readonly _tag: "Fingerprint"; readonly fingerprint: string }

export interface PveConnectionSettings {
  /** e.g. `https://pve1.example:8006`; the API root `/api2/json` is appended. */
  readonly url: URL
  readonly token: PveToken
  readonly trust: PveTrust
  /** Allow plain `http` to a non-loopback host. Never the default. */
  readonly insecureHttp: boolean
  /** Per-request deadline (undici's own timeouts are 1 h or none, so ours is the only one). */
  readonly requestTimeout: Duration.Duration
  /** Requests in flight at once; pveproxy serves 3 at a time (pve-manager `PVE::Service::pveproxy`). */
  readonly concurrency: number
}

export class PveConnection extends Context.Tag("felhom/PveConnection")<PveConnection, PveConnectionSettings>() {}

export class PveConnectionInvalid extends Data.TaggedError("PveConnectionInvalid")<{ readonly reason: string }> {
  override get message(): string {
    return `invalid PVE connection settings: ${this.reason}`
  }
}

const FINGERPRINT_RE = /^([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}$/

const isLoopback = (hostname: string): boolean =>
  hostname === "localhost" || hostname === "[::1]" || hostname === "::1" || /^127\.\d+\.\d+\.\d+$/.test(hostname)

export interface PveConnectionInput {
  readonly url: string
  readonly token: PveToken
  readonly fingerprint?: string | undefined
  readonly caPem?: string | undefined
  readonly insecureHttp?: boolean | undefined
  readonly requestTimeout?: Duration.DurationInput | undefined
  readonly concurrency?: number | undefined
}

/** Validates the settings once, so a bad URL or pin is a clear start-up error. */
export const makeConnectionSettings = (
  input: PveConnectionInput
): Effect.Effect<PveConnectionSettings, PveConnectionInvalid> =>
  Effect.gen(function*() {
    const url = yield* Effect.try({
      try: () => new URL(input.url),
      catch: () => new PveConnectionInvalid({ reason: `PVE URL ${JSON.stringify(input.url)} is not a URL` })
    })
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      return yield* new PveConnectionInvalid({ reason: `PVE URL must be https (got ${url.protocol})` })
    }
    if (url.protocol === "http:" && !isLoopback(url.hostname) && input.insecureHttp !== true) {
      return yield* new PveConnectionInvalid({
        reason:
          `plain http is only allowed to a loopback address; ${url.hostname} needs https (or the explicit insecure flag)`
      })
    }
    if (input.fingerprint !== undefined && input.caPem !== undefined) {
      return yield* new PveConnectionInvalid({ reason: "give either a fingerprint pin or a CA file, not both" })
    }
    if (input.fingerprint !== undefined && !FINGERPRINT_RE.test(input.fingerprint)) {
      return yield* new PveConnectionInvalid({
        reason:
          "fingerprint must be a SHA-256 in PVE's form: 32 hex pairs joined by ':' (as GET /nodes ssl_fingerprint shows)"
      })
    }
    const concurrency = input.concurrency ?? 3
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      return yield* new PveConnectionInvalid({ reason: `concurrency must be a positive integer, got ${concurrency}` })
    }
    const trust: PveTrust = input.fingerprint !== undefined
      ? { _tag: "Fingerprint", fingerprint: input.fingerprint.toUpperCase() }
      : input.caPem !== undefined
      ? { _tag: "CaPem", pem: input.caPem }
      : { _tag: "SystemCa" }
    return {
      url: new URL(url.origin),
      token: input.token,
      trust,
      insecureHttp: input.insecureHttp ?? false,
      requestTimeout: Duration.decode(input.requestTimeout ?? "30 seconds"),
      concurrency
    }
  })

export const layer = (input: PveConnectionInput): Layer.Layer<PveConnection, PveConnectionInvalid> =>
  Layer.effect(PveConnection, makeConnectionSettings(input))
