/**
 * HealthServer: `/healthz`, `/readyz` and `/metrics` on loopback (127.0.0.1:9105 by default),
 * an `HttpRouter` served by `NodeHttpServer` in a scoped layer, so the bound port (port 0 in
 * tests) is known as soon as the layer is built. The server closes with the layer's scope; open
 * keep-alive scrapes are cut so shutdown is not held up by a Prometheus connection.
 *
 * The routes never fail: a scrape hook that errors is logged and the metrics are rendered
 * anyway, because a monitoring endpoint that goes dark on an error hides the error.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Context, Data, Effect, Layer } from "effect"
import * as http from "node:http"
import { prometheusText } from "../domain/Metrics.js"
import { Liveness, Readiness } from "./Health.js"

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

const reply = (status: number, contentType: string, body: string) =>
  HttpServerResponse.text(body, { status, contentType, headers: { "cache-control": "no-store" } })

const json = (status: number, body: unknown) =>
  reply(status, "application/json; charset=utf-8", `${JSON.stringify(body)}\n`)

const PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"

const causeMessage = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

const make = (options: HealthServerOptions) =>
  Effect.gen(function*() {
    const host = options.host ?? DEFAULT_HEALTH_HOST
    const port = options.port ?? DEFAULT_HEALTH_PORT
    const readiness = yield* Readiness
    const liveness = yield* Liveness
    const onScrape = options.onScrape ?? Effect.void

    const routes = HttpRouter.empty.pipe(
      // A HEAD request is answered by the GET route, without the body.
      HttpRouter.get("/healthz", Effect.map(liveness.check, (s) => json(s.alive ? 200 : 503, s))),
      HttpRouter.get("/readyz", Effect.map(readiness.current, (s) => json(s.ready ? 200 : 503, s))),
      HttpRouter.get(
        "/metrics",
        onScrape.pipe(
          Effect.catchAllCause((cause) => Effect.logWarning("metrics scrape hook failed", cause)),
          Effect.zipRight(prometheusText),
          Effect.map((body) => reply(200, PROMETHEUS_TEXT, body))
        )
      ),
      Effect.catchTag("RouteNotFound", ({ request }) =>
        Effect.succeed(
          request.method !== "GET" && request.method !== "HEAD"
            ? json(405, { error: "method not allowed" })
            : json(404, { error: "not found", routes: ["/healthz", "/readyz", "/metrics"] })
        )),
      // Only a defect gets here (the routes cannot fail); answer rather than hang the scraper.
      Effect.catchAllDefect((defect) =>
        Effect.as(Effect.logError("health route died", defect), reply(500, "text/plain", "internal error\n"))
      )
    )

    const node = http.createServer()
    const server = yield* NodeHttpServer.make(() => node, { host, port }).pipe(
      Effect.mapError((e) => new HealthServerListenError({ host, port, reason: causeMessage(e.cause) }))
    )
    // Runs before NodeHttpServer's own close, which would wait for idle keep-alive scrapes to
    // time out: stop listening, cut every connection, then wait for the close.
    yield* Effect.addFinalizer(() =>
      Effect.async<void>((resume) => {
        node.close(() => resume(Effect.void))
        node.closeAllConnections()
      })
    )
    // Scrapes are not traced: a span every few seconds per scraper would drown the ops' traces.
    yield* HttpServer.serveEffect(routes).pipe(
      HttpMiddleware.withTracerDisabledWhenEffect(() => true),
      Effect.provideService(HttpServer.HttpServer, server)
    )
    const address = { host, port: server.address._tag === "TcpAddress" ? server.address.port : port }
    yield* Effect.logInfo("health server listening").pipe(Effect.annotateLogs({ host, port: address.port }))
    return { address }
  })
