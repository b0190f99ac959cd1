/**
 * The undici dispatcher PVE requests travel through: the TLS trust decision and keep-alive tuned
 * below pveproxy's 5 s idle close (pve-http-server `PVE::APIServer::AnyEvent::new`). PveHttp.ts
 * dispatches on it with its own handler, which also reads the status line's reason phrase.
 */
import { Effect, type Scope } from "effect"
import * as Tls from "node:tls"
import { Agent, buildConnector, type Dispatcher } from "undici"
import type { PveConnectionSettings } from "./PveConnection.js"

/** Raised by the pinning connector; a transport failure that must never be retried. */
export class FingerprintMismatch extends Error {
  readonly code = "FELHOM_FINGERPRINT_MISMATCH"
  constructor(readonly expected: string, readonly actual: string) {
    super(`server certificate fingerprint ${actual} does not match the pinned ${expected}`)
  }
}

/**
 * Pinning replaces chain validation, as PVE's own client does (hostname check off when pinned).
 * The check runs in the connector, before undici writes a single request byte, so the token
 * never reaches an impostor. Session caching is off: a resumed session shows no peer
 * certificate (node:tls `getPeerCertificate()` is empty) and the pin would fail on reconnect.
 */
export const pinningConnector = (fingerprint: string): buildConnector.connector => {
  const base = buildConnector({ rejectUnauthorized: false, maxCachedSessions: 0, timeout: 10_000 })
  return (options, callback) =>
    base(options, (error, socket) => {
      if (error !== null || socket === null) return callback(error ?? new Error("connect failed"), null)
      const actual = socket instanceof Tls.TLSSocket ? socket.getPeerCertificate().fingerprint256 ?? "" : ""
      if (actual.toUpperCase() !== fingerprint) {
        socket.destroy()
        return callback(new FingerprintMismatch(fingerprint, actual.toUpperCase()), null)
      }
      return callback(null, socket)
    })
}

const connectOptions = (settings: PveConnectionSettings): Agent.Options["connect"] => {
  switch (settings.trust._tag) {
    case "Fingerprint":
      return pinningConnector(settings.trust.fingerprint)
    case "CaPem":
      return { ca: settings.trust.pem, timeout: 10_000 }
    case "SystemCa":
      return { timeout: 10_000 }
  }
}

export const makeDispatcher = (settings: PveConnectionSettings): Effect.Effect<Dispatcher, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() =>
      new Agent({
        connect: connectOptions(settings),
        connections: settings.concurrency,
        pipelining: 1,
        // pveproxy closes idle keep-alive sockets after 5 s; retire ours first.
        keepAliveTimeout: 3_000,
        keepAliveMaxTimeout: 4_000
      })
    ),
    (dispatcher) => Effect.promise(() => dispatcher.destroy()).pipe(Effect.ignore)
  )
