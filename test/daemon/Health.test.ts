import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Layer, Metric, TestClock, Tracer } from "effect"
import { Liveness, Readiness } from "../../src/daemon/Health.js"
import { HealthServer, parseListen } from "../../src/daemon/HealthServer.js"
import { AgentMetrics, recordNonceFill, recordOp } from "../../src/domain/Metrics.js"
import { parsePrometheus, sampleValue } from "./fixtures/prometheus.js"

const get = (port: number, path: string, method = "GET") =>
  Effect.promise(async () => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method })
    return {
      status: response.status,
      type: response.headers.get("content-type") ?? "",
      cache: response.headers.get("cache-control") ?? "",
      body: await response.text()
    }
  })

const scrapes = Metric.counter("felhom_test_health_scrape_hook_total", { incremental: true })

const server = (options: { onScrape?: Effect.Effect<void, unknown> } = {}) =>
  HealthServer.layer({ port: 0, ...options }).pipe(
    Layer.provideMerge(Layer.merge(Readiness.layer, Liveness.layer({ staleAfter: "1 minute" })))
  )

const services = Effect.gen(function*() {
  return {
    port: (yield* HealthServer).address.port,
    readiness: yield* Readiness,
    liveness: yield* Liveness
  }
})

describe("HealthServer", () => {
  it.live("/readyz answers 503 with the reason until markReady, then 200", () =>
    Effect.gen(function*() {
      const { port, readiness } = yield* services
      const before = yield* get(port, "/readyz")
      expect(before.status).toBe(503)
      expect(JSON.parse(before.body)).toEqual({ ready: false, reason: "starting: journal recovery not finished" })
      yield* readiness.markReady
      const after = yield* get(port, "/readyz")
      expect(after.status).toBe(200)
      expect(JSON.parse(after.body)).toEqual({ ready: true, reason: "ready" })
      yield* readiness.markNotReady("stopping")
      expect((yield* get(port, "/readyz")).status).toBe(503)
    }).pipe(Effect.provide(server())))

  it.live("/healthz answers 200 while the engine is alive and 503 once its loop ended", () =>
    Effect.gen(function*() {
      const { liveness, port } = yield* services
      const alive = yield* get(port, "/healthz")
      expect(alive.status).toBe(200)
      expect(JSON.parse(alive.body)).toMatchObject({ alive: true })
      yield* Effect.exit(liveness.watch("engine", Effect.die("wedged")))
      const dead = yield* get(port, "/healthz")
      expect(dead.status).toBe(503)
      expect(JSON.parse(dead.body)).toMatchObject({ alive: false, reason: "engine stopped" })
    }).pipe(Effect.provide(server())))

  it.live("/metrics is Prometheus text that moves when ops run", () =>
    Effect.gen(function*() {
      const { port, readiness } = yield* services
      const first = yield* get(port, "/metrics")
      expect(first.status).toBe(200)
      expect(first.type).toMatch(/^text\/plain; version=0\.0\.4/)
      const before = parsePrometheus(first.body)
      expect(before.problems).toEqual([])
      expect(sampleValue(before, "felhom_ready")).toBe(0)
      const opsBefore = sampleValue(before, "felhom_ops_total", { kind: "Start", outcome: "Applied" }) ?? 0
      yield* recordOp("Start", "Applied")
      yield* readiness.markReady
      const after = parsePrometheus((yield* get(port, "/metrics")).body)
      expect(after.problems).toEqual([])
      expect(sampleValue(after, "felhom_ops_total", { kind: "Start", outcome: "Applied" })).toBe(opsBefore + 1)
      expect(sampleValue(after, "felhom_ready")).toBe(1)
      expect(sampleValue(after, "felhom_nonce_store_entries")).toBe(42)
      expect(sampleValue(after, "felhom_test_health_scrape_hook_total")).toBe(2)
    }).pipe(Effect.provide(server({
      onScrape: Effect.zipRight(recordNonceFill({ entries: 42, capacity: 100_000 }), Metric.increment(scrapes))
    }))))

  it.live("a failing scrape hook still serves the metrics", () =>
    Effect.gen(function*() {
      const { port } = yield* services
      const reply = yield* get(port, "/metrics")
      expect(reply.status).toBe(200)
      expect(parsePrometheus(reply.body).problems).toEqual([])
    }).pipe(Effect.provide(server({ onScrape: Effect.fail("nonce store unavailable") }))))

  it.live("unknown paths are 404 and other methods 405", () =>
    Effect.gen(function*() {
      const { port } = yield* services
      expect((yield* get(port, "/nope")).status).toBe(404)
      expect((yield* get(port, "/readyz", "POST")).status).toBe(405)
      expect((yield* get(port, "/healthz", "HEAD")).status).toBe(200)
    }).pipe(Effect.provide(server())))

  it.live("every answer is uncached, typed exactly, and HEAD carries no body", () =>
    Effect.gen(function*() {
      const { port } = yield* services
      const json = "application/json; charset=utf-8"
      for (const path of ["/healthz", "/readyz", "/nope"]) {
        expect(yield* get(port, path)).toMatchObject({ type: json, cache: "no-store" })
      }
      expect(yield* get(port, "/metrics?x=1")).toMatchObject({
        status: 200,
        type: "text/plain; version=0.0.4; charset=utf-8",
        cache: "no-store"
      })
      expect(yield* get(port, "/nope", "DELETE")).toMatchObject({
        status: 405,
        type: json,
        body: `{"error":"method not allowed"}\n`
      })
      expect(JSON.parse((yield* get(port, "/nope")).body)).toEqual({
        error: "not found",
        routes: ["/healthz", "/readyz", "/metrics"]
      })
      expect(yield* get(port, "/readyz", "HEAD")).toMatchObject({ status: 503, type: json, body: "" })
    }).pipe(Effect.provide(server())))

  it.live("a scrape still in progress does not hold up the server's close", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const closed = yield* Effect.scoped(Effect.gen(function*() {
        const ctx = yield* Layer.build(
          server({ onScrape: Effect.zipRight(Deferred.succeed(started, undefined), Effect.never) })
        )
        const port = Context.get(ctx, HealthServer).address.port
        yield* Effect.forkDaemon(Effect.exit(Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/metrics`))))
        yield* Deferred.await(started)
        return port
      })).pipe(Effect.timeout("2 seconds"))
      const refused = yield* Effect.flip(Effect.tryPromise(() => fetch(`http://127.0.0.1:${closed}/healthz`)))
      expect(refused._tag).toBe("UnknownException")
    }))

  it.live("scrapes make no spans", () =>
    Effect.gen(function*() {
      const names: Array<string> = []
      const base = yield* Effect.tracer
      const recording = Tracer.make({
        span: (name, ...rest) => {
          names.push(name)
          return base.span(name, ...rest)
        },
        context: (f, fiber) => base.context(f, fiber)
      })
      yield* Effect.gen(function*() {
        const ctx = yield* Layer.build(server())
        const port = Context.get(ctx, HealthServer).address.port
        yield* get(port, "/metrics")
        yield* Effect.withSpan(Effect.void, "after the scrape")
      }).pipe(Effect.scoped, Effect.withTracer(recording))
      expect(names).toEqual(["after the scrape"])
    }))

  it.live("a taken port fails the layer with a clear error", () =>
    Effect.gen(function*() {
      const { port } = yield* services
      const clash = yield* Effect.flip(
        Layer.build(HealthServer.layer({ port })).pipe(
          Effect.provide(Layer.merge(Readiness.layer, Liveness.layer())),
          Effect.scoped
        )
      )
      expect(clash._tag).toBe("HealthServerListenError")
      expect(clash.message).toContain(`127.0.0.1:${port}`)
    }).pipe(Effect.provide(server())))

  it.live("the server closes with its scope", () =>
    Effect.gen(function*() {
      const port = yield* Effect.scoped(
        Effect.map(Layer.build(server()), (ctx) => Context.get(ctx, HealthServer).address.port)
      )
      const refused = yield* Effect.flip(Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/healthz`)))
      expect(refused._tag).toBe("UnknownException")
    }))
})

describe("Liveness", () => {
  it.effect("a heartbeat older than staleAfter makes the agent not alive; a beat revives it", () =>
    Effect.gen(function*() {
      const liveness = yield* Liveness
      expect((yield* liveness.check).alive).toBe(true)
      yield* TestClock.adjust("61 seconds")
      const stale = yield* liveness.check
      expect(stale).toMatchObject({ alive: false, reason: "no heartbeat for 61 s" })
      yield* liveness.beat
      expect((yield* liveness.check).alive).toBe(true)
    }).pipe(Effect.provide(Liveness.layer({ staleAfter: "1 minute" }))))

  it.effect("the gauge felhom_ready follows Readiness", () =>
    Effect.gen(function*() {
      const readiness = yield* Readiness
      yield* readiness.markReady
      expect((yield* Metric.value(AgentMetrics.ready)).value).toBe(1)
      yield* readiness.markNotReady("stopping")
      expect((yield* Metric.value(AgentMetrics.ready)).value).toBe(0)
      expect(yield* readiness.isReady).toBe(false)
    }).pipe(Effect.provide(Readiness.layer)))
})

describe("parseListen", () => {
  it("reads host:port, [v6]:port and :port", () => {
    expect(parseListen("127.0.0.1:9105")).toEqual({ host: "127.0.0.1", port: 9105 })
    expect(parseListen("[::1]:9105")).toEqual({ host: "::1", port: 9105 })
    expect(parseListen(":9200")).toEqual({ host: "127.0.0.1", port: 9200 })
    expect(parseListen("localhost")).toBeUndefined()
    expect(parseListen("1.2.3.4:70000")).toBeUndefined()
  })
})
