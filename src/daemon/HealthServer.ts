/**
 * HealthServer: `/healthz`, `/readyz` and `/metrics` on loopback (127.0.0.1:9105 by default),
 * an `HttpRouter` served by `NodeHttpServer` in a scoped layer, so the bound port (port 0 in
 * tests) is known as soon as the layer is built. The server closes with the layer's scope; open
 * keep-alive scrapes are cut so shutdown is not held up by a Prometheus connection.
 *
 * The routes never fail: a scrape hook that errors is logged and the metrics are rendered
 * anyway, because a monitoring endpoint that goes dark on an error hides the error.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Context, Data, Effect, Layer, Runtime } from "effect"
import { Liveness, Readiness } from "./Health.js"
import { prometheusText } from "../domain/Metrics.js"

export const DEFAULT_HEALTH_HOST = "127.0.0.1"
export const DEFAULT_HEALTH_PORT = 9105

export class HealthServerListenError extends Data.TaggedError("HealthServerListenError")<{
  readonly host: string
  readonly port: number
  readonly reason: string
}> {
  override get message(): string {
    return `health server cannot listen on ${this.host}:${this.port}: ${this.reason}`
  }
}

export interface HealthServerOptions {
  readonly host?: string
  /** 0 picks a free port (tests); read it back from `HealthServer.address`. */
  readonly port?: number
  /** Runs before each `/metrics` render, e.g. to sample the nonce-store fill into its gauge. */
  readonly onScrape?: Effect.Effect<void, unknown>
}

export class HealthServer extends Context.Tag("felhom/HealthServer")<HealthServer, {
  readonly address: { readonly host: string; readonly port: number }
}>() {
  static readonly layer = (
    options: HealthServerOptions = {}
  ): Layer.Layer<HealthServer, HealthServerListenError, Readiness | Liveness> =>
    Layer.scoped(HealthServer, make(options))
}

/** Parses `host:port` / `[v6]:port` / `:port` (the config's `health.listen`). */
export const parseListen = (listen: string): { readonly host: string; readonly port: number } | undefined => {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen.trim())
  if (match === null) return undefined
  const port = Number(match[3])
  if (port > 65535) return undefined
  const host = match[1] ?? match[2] ?? ""
  return { host: host === "" ? DEFAULT_HEALTH_HOST : host, port }
}

interface Reply {
  readonly status: number
  readonly contentType: string
  readonly body: string
}

const json = (status: number, body: unknown): Reply => ({
  status,
  contentType: "application/json; charset=utf-8",
  body: `${JSON.stringify(body)}\n`
})

const make = (options: HealthServerOptions) =>
  Effect.gen(function*() {
    const host = options.host ?? DEFAULT_HEALTH_HOST
    const port = options.port ?? DEFAULT_HEALTH_PORT
    const readiness = yield* Readiness
    const liveness = yield* Liveness
    const runtime = yield* Effect.runtime<never>()
    const onScrape = options.onScrape ?? Effect.void

    const route = (method: string, path: string): Effect.Effect<Reply> => {
      if (method !== "GET" && method !== "HEAD") return Effect.succeed(json(405, { error: "method not allowed" }))
      switch (path) {
        case "/healthz":
          return Effect.map(liveness.check, (s) => json(s.alive ? 200 : 503, s))
        case "/readyz":
          return Effect.map(readiness.current, (s) => json(s.ready ? 200 : 503, s))
        case "/metrics":
          return onScrape.pipe(
            Effect.catchAllCause((cause) => Effect.logWarning("metrics scrape hook failed", cause)),
            Effect.zipRight(prometheusText),
            Effect.map((body): Reply => ({ status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body }))
          )
        default:
          return Effect.succeed(json(404, { error: "not found", routes: ["/healthz", "/readyz", "/metrics"] }))
      }
    }

    const server = http.createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0] ?? "/"
      const method = req.method ?? "GET"
      Runtime.runPromise(runtime)(route(method, path)).then(
        (reply) => {
          res.writeHead(reply.status, { "content-type": reply.contentType, "cache-control": "no-store" })
          res.end(method === "HEAD" ? undefined : reply.body)
        },
        // Only a defect gets here (the routes cannot fail); answer rather than hang the scraper.
        () => {
          res.writeHead(500, { "content-type": "text/plain" })
          res.end("internal error\n")
        }
      )
    })

    const address = yield* Effect.acquireRelease(
      Effect.async<{ host: string; port: number }, HealthServerListenError>((resume) => {
        const onError = (error: Error) =>
          resume(Effect.fail(new HealthServerListenError({ host, port, reason: error.message })))
        server.once("error", onError)
        server.listen(port, host, () => {
          server.off("error", onError)
          const bound: AddressInfo | string | null = server.address()
          resume(Effect.succeed({ host, port: typeof bound === "object" && bound !== null ? bound.port : port }))
        })
      }),
      () =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
    yield* Effect.logInfo("health server listening").pipe(Effect.annotateLogs({ host, port: address.port }))
    return { address }
  })
