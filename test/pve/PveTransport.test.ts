/**
 * Transport realities the client must survive: TLS trust (CA file, pin, refused pin, no
 * silent insecurity), stale keep-alive sockets (reads retried once, mutations never),
 * old servers that put the error text only in the status line, gzip, undecodable answers,
 * bounded concurrency, the request deadline and the request's span.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Redacted, Schedule, Schema, type Scope, Tracer } from "effect"
import * as Zlib from "node:zlib"
import { GuestRef } from "../../src/domain/Guest.js"
import { prometheusText } from "../../src/domain/Metrics.js"
import { Pve } from "../../src/pve/Pve.js"
import { makeConnectionSettings, PveConnection, type PveConnectionInput } from "../../src/pve/PveConnection.js"
import { type Handler, rawServer } from "../support/rawServer.js"
import { Sim } from "../support/sim.js"

const token = { tokenId: "felhom@pve!agent", secret: Redacted.make("11111111-2222-3333-4444-555555555555") }
const guest = Schema.decodeSync(GuestRef)({ vmid: 100, type: "qemu", node: "pve1" })

/** A client of `input`, built inside the test's scope. */
const pveOf = (input: PveConnectionInput) =>
  makeConnectionSettings(input).pipe(
    Effect.flatMap((settings) => Layer.build(Pve.layer.pipe(Layer.provide(Layer.succeed(PveConnection, settings))))),
    Effect.map((context) => Context.get(context, Pve))
  )

const failureOf = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.flatMap(
    Effect.exit(effect),
    (exit) =>
      Exit.isFailure(exit) && exit.cause._tag === "Fail"
        ? Effect.succeed(exit.cause.error)
        : Effect.dieMessage(`expected a failure, got ${String(exit)}`)
  )

const json = (body: unknown): Handler => (_req, res) => {
  res.writeHead(200, { "content-type": "application/json;charset=UTF-8" })
  res.end(JSON.stringify(body))
}

describe("TLS trust", () => {
  const withSim = <A, E>(f: (sim: Sim["Type"]) => Effect.Effect<A, E, Scope.Scope>) =>
    Effect.scoped(Effect.flatMap(Sim, f)).pipe(
      Effect.provide(Sim.layer({ guests: [{ vmid: 100, type: "qemu", status: "stopped" }] }))
    )

  it.live("a pinned fingerprint connects; chain and hostname checks are replaced by the pin", () =>
    withSim((sim) =>
      Effect.gen(function*() {
        const pve = yield* pveOf({
          url: sim.url.replace("127.0.0.1", "localhost"),
          token: { tokenId: sim.tokenId, secret: sim.tokenSecret },
          fingerprint: sim.fingerprint
        })
        expect((yield* pve.version).version).toBeTruthy()
      })
    ))

  it.live("a wrong pin is refused before any request byte is sent", () =>
    withSim((sim) =>
      Effect.gen(function*() {
        const wrong = sim.fingerprint.startsWith("AA")
          ? "BB" + sim.fingerprint.slice(2)
          : "AA" + sim.fingerprint.slice(2)
        const pve = yield* pveOf({
          url: sim.url,
          token: { tokenId: sim.tokenId, secret: sim.tokenSecret },
          fingerprint: wrong
        })
        const e = yield* failureOf(pve.power(guest, "start"))
        expect(e).toMatchObject({ _tag: "PveTransport", code: "FELHOM_FINGERPRINT_MISMATCH", requestSent: false })
        expect(sim.cluster.mutations()).toEqual([])
      })
    ))

  it.live("the CA file verifies the simulator's certificate", () =>
    withSim((sim) =>
      Effect.gen(function*() {
        const pve = yield* pveOf({
          url: sim.url,
          token: { tokenId: sim.tokenId, secret: sim.tokenSecret },
          caPem: sim.caPem
        })
        expect((yield* pve.guests).map((g) => g.vmid)).toEqual([100])
      })
    ))

  it.live("without a pin or CA the system CAs refuse the self-signed chain (never silently insecure)", () =>
    withSim((sim) =>
      Effect.gen(function*() {
        const pve = yield* pveOf({ url: sim.url, token: { tokenId: sim.tokenId, secret: sim.tokenSecret } })
        expect(yield* failureOf(pve.version)).toMatchObject({ _tag: "PveTransport", requestSent: false })
      })
    ))

  it.effect("plain http is refused for a non-loopback host unless explicitly allowed", () =>
    Effect.gen(function*() {
      const e = yield* failureOf(makeConnectionSettings({ url: "http://pve1.example:8006", token }))
      expect(e.message).toContain("plain http is only allowed to a loopback address")
      const allowed = yield* makeConnectionSettings({ url: "http://pve1.example:8006", token, insecureHttp: true })
      expect(allowed.url.hostname).toBe("pve1.example")
      const pin = yield* failureOf(makeConnectionSettings({ url: "https://pve1:8006", token, fingerprint: "AB:CD" }))
      expect(pin.message).toContain("fingerprint must be a SHA-256")
    }))
})

describe("transport", () => {
  it.live("a GET on a connection the server dropped is retried once and succeeds", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* rawServer((
        req,
        res,
        i
      ) => (i === 0 ? req.socket.destroy() : json({ data: { version: "9.2.11" } })(req, res, i)))
      const pve = yield* pveOf({ url: server.url, token })
      expect((yield* pve.version).version).toBe("9.2.11")
      expect(server.seen.map((s) => s.method)).toEqual(["GET", "GET"])
    })))

  it.live("a mutation whose connection dropped is never re-sent, and says the request may have arrived", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* rawServer((req) => req.socket.destroy())
      const pve = yield* pveOf({ url: server.url, token })
      expect(yield* failureOf(pve.power(guest, "start"))).toMatchObject({ _tag: "PveTransport", requestSent: true })
      expect(server.seen.map((s) => s.method)).toEqual(["POST"])
    })))

  it.live("connection refused is a transport error that certainly sent nothing", () =>
    Effect.scoped(Effect.gen(function*() {
      // Port 1 (tcpmux) has no listener on a test machine; connecting is refused at once.
      const pve = yield* pveOf({ url: "http://127.0.0.1:1", token })
      const e = yield* failureOf(pve.power(guest, "start"))
      expect(e).toMatchObject({ _tag: "PveTransport", code: "ECONNREFUSED", requestSent: false })
    })))

  it.live("an older PVE that sends the error text only in the status line is still mapped", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* rawServer((_req, res) => {
        res.writeHead(500, "VM is locked (backup)", {
          "content-type": "application/json;charset=UTF-8",
          connection: "close"
        })
        res.end(JSON.stringify({ data: null }))
      })
      const pve = yield* pveOf({ url: server.url, token })
      expect(yield* failureOf(pve.setConfig(guest, { set: { onboot: 1 }, delete: [], mode: "sync" }))).toMatchObject({
        _tag: "PveGuestLocked",
        lock: "backup"
      })
    })))

  it.live("gzip bodies are decoded, and the client asks for them", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* rawServer((_req, res) => {
        res.writeHead(200, { "content-type": "application/json;charset=UTF-8", "content-encoding": "gzip" })
        res.end(Zlib.gzipSync(JSON.stringify({ data: { version: "8.4.1", release: "8.4", repoid: "x".repeat(2000) } })))
      })
      const pve = yield* pveOf({ url: server.url, token })
      expect((yield* pve.version).version).toBe("8.4.1")
      expect(server.seen[0]?.headers["accept-encoding"]).toContain("gzip")
    })))

  it.live("an answer that does not match the schema is PveBadResponse naming the path", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* rawServer(json({ data: [{ vmid: 100, node: "pve1", type: "qemu", id: "qemu/100" }] }))
      const pve = yield* pveOf({ url: server.url, token })
      const e = yield* failureOf(pve.guests)
      expect(e._tag).toBe("PveBadResponse")
      expect(e.message).toContain("GET /cluster/resources")
      expect(e.message).toContain("status")
    })))

  it.live("at most `concurrency` requests are in flight at once", () =>
    Effect.scoped(Effect.gen(function*() {
      let inFlight = 0
      let peak = 0
      const server = yield* rawServer((req, res, i) => {
        inFlight++
        peak = Math.max(peak, inFlight)
        setTimeout(() => {
          inFlight--
          json({ data: { version: "9" } })(req, res, i)
        }, 10)
      })
      const pve = yield* pveOf({ url: server.url, token, concurrency: 3 })
      yield* Effect.all(Array.from({ length: 12 }, () => pve.version), { concurrency: "unbounded" })
      expect(server.seen).toHaveLength(12)
      expect(peak).toBeLessThanOrEqual(3)
    })))

  it.live("every request is measured by endpoint template and status", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* rawServer((req, res, i) =>
        req.url?.includes("/status/current") === true
          ? json({ data: { status: "running" } })(req, res, i)
          : req.socket.destroy()
      )
      const pve = yield* pveOf({ url: server.url, token })
      yield* pve.status(guest)
      yield* Effect.exit(pve.power(guest, "stop"))
      const text = yield* prometheusText
      expect(text).toMatch(
        /felhom_pve_request_seconds_count\{[^}]*endpoint="\/nodes\/\{node\}\/qemu\/\{vmid\}\/status\/current"[^}]*status="200"[^}]*\} [1-9]/
      )
      expect(text).toMatch(
        /felhom_pve_request_seconds_count\{[^}]*endpoint="\/nodes\/\{node\}\/qemu\/\{vmid\}\/status\/stop"[^}]*status="error"[^}]*\} [1-9]/
      )
    })))

  it.live("a request with no answer is PveTimeout at the deadline, and its connection is dropped", () =>
    Effect.scoped(Effect.gen(function*() {
      let closed = false
      const server = yield* rawServer((req) => {
        req.socket.once("close", () => {
          closed = true
        })
      })
      const pve = yield* pveOf({ url: server.url, token, requestTimeout: "200 millis" })
      expect(yield* failureOf(pve.version)).toMatchObject({
        _tag: "PveTimeout",
        operation: "GET /version",
        afterMillis: 200
      })
      yield* Effect.retry(
        Effect.suspend(() => (closed ? Effect.void : Effect.fail("still open"))),
        Schedule.intersect(Schedule.spaced("20 millis"), Schedule.recurs(100))
      )
      expect(server.seen).toHaveLength(1)
    })))

  it.live("with a tracer installed, each request is one client span named by its endpoint template", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* rawServer(json({ data: { status: "running" } }))
      const pve = yield* pveOf({ url: server.url, token })
      const base = yield* Effect.tracer
      const spans: Array<Tracer.Span> = []
      const recording = Tracer.make({
        span: (name, parent, context, links, startTime, kind, options) => {
          const span = base.span(name, parent, context, links, startTime, kind, options)
          spans.push(span)
          return span
        },
        context: (f, fiber) => base.context(f, fiber)
      })
      yield* pve.status(guest).pipe(Effect.withTracer(recording))
      expect(spans.map((s) => s.name)).toEqual(["pve.request"])
      expect(spans[0]?.kind).toBe("client")
      expect(Object.fromEntries(spans[0]?.attributes ?? [])).toEqual({
        "http.request.method": "GET",
        "pve.endpoint": "/nodes/{node}/qemu/{vmid}/status/current",
        "http.response.status_code": 200
      })
      expect(spans[0]?.status._tag).toBe("Ended")
    })))

  it.live("the Authorization header carries the token in PVE's form", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* rawServer(json({ data: { version: "9" } }))
      const pve = yield* pveOf({ url: server.url, token })
      yield* pve.version
      expect(server.seen[0]?.headers.authorization).toBe(
        "PVEAPIToken=felhom@pve!agent=11111111-2222-3333-4444-555555555555"
      )
    })))
})
