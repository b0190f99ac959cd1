import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Either, Fiber, Layer, Redacted, type Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Agent } from "undici"
import { HubClient, type HubClientSettings, type HubClientShape, make as makeClient } from "../../src/hub/HubClient.js"
import { parseHubUrl, readHubToken } from "../../src/hub/hubToken.js"
import { MAX_DESIRED_BYTES } from "../../src/hub/protocol.js"
import { rawServer } from "../support/rawServer.js"
import { Sim } from "../support/sim.js"
import { signersTrusting, startTestHub } from "../support/TestHub.js"
import { AGENT, buildStack, captureLogs, tempDb } from "./support.js"

/** A client with its own undici Agent (no keep-alive reuse across tests). */
const client = (url: string, token: string, timeout: Duration.DurationInput = "5 seconds"): HubClientShape =>
  makeClient(
    { url: new URL(url), agentId: AGENT, token: Redacted.make(token), requestTimeout: timeout },
    NodeHttpClient.makeUndici(new Agent())
  )

const SECRET = "s3cr3t-hub-token-4242"

describe("HubClient", () => {
  it.live("a wrong token is a HubRejected 401 whose message does not carry the token", () =>
    Effect.gen(function*() {
      const hub = yield* startTestHub({ agent: AGENT })
      const r = yield* Effect.either(client(hub.url, SECRET).fetchDesired(undefined))
      expect(Either.isLeft(r) && r.left).toMatchObject({ _tag: "HubRejected", status: 401 })
      expect(Either.isLeft(r) && r.left.message).toContain("bad bearer token")
      expect(JSON.stringify(r)).not.toContain(SECRET)
      expect(hub.seen[0]?.headers.authorization).toBe(`Bearer ${SECRET}`)
    }).pipe(Effect.scoped))

  it.live("refuses an oversized body, garbage ops and a 304 it did not ask for", () =>
    Effect.gen(function*() {
      const big = Buffer.alloc(MAX_DESIRED_BYTES + 1, 0x61)
      const server = yield* rawServer((req, res) => {
        if (req.url?.includes("/desired")) {
          res.writeHead(req.headers["if-none-match"] === undefined ? 304 : 200)
          return res.end(req.headers["if-none-match"] === undefined ? undefined : big)
        }
        res.writeHead(200, { "content-type": "application/json" })
        res.end(req.url?.includes("after=1") ? "{\"ops\": 5}" : "not json")
      })
      const c = client(server.url, SECRET)
      const tooBig = yield* Effect.either(c.fetchDesired("\"x\""))
      expect(Either.isLeft(tooBig) && tooBig.left).toMatchObject({
        _tag: "HubBadResponse",
        issue: `body larger than ${MAX_DESIRED_BYTES} bytes`
      })
      const unasked = yield* Effect.either(c.fetchDesired(undefined))
      expect(Either.isLeft(unasked) && unasked.left).toMatchObject({ _tag: "HubRejected", status: 304 })
      const garbage = yield* Effect.either(c.fetchOps(0))
      expect(Either.isLeft(garbage) && garbage.left).toMatchObject({ _tag: "HubBadResponse", issue: "not valid JSON" })
      const shape = yield* Effect.either(c.fetchOps(1))
      expect(Either.isLeft(shape) && shape.left._tag).toBe("HubBadResponse")
      expect(Either.isLeft(shape) && shape.left.message).toContain("ops")
    }).pipe(Effect.scoped))

  it.live("a hub that never answers times out as HubUnreachable", () =>
    Effect.gen(function*() {
      const server = yield* rawServer(() => undefined)
      const r = yield* Effect.either(client(server.url, SECRET, "200 millis").fetchOps(0))
      expect(Either.isLeft(r) && r.left).toMatchObject({ _tag: "HubUnreachable", operation: "GET ops" })
    }).pipe(Effect.scoped))

  it.live("the token never appears in the loop's logs, whether the hub refuses it or is down", () =>
    Effect.gen(function*() {
      const hub = yield* startTestHub({ agent: AGENT, token: "the-right-token" })
      const wrong = { ...hub, token: SECRET }
      const s = yield* buildStack(wrong, yield* tempDb, signersTrusting(hub.key), {
        backoff: { base: Duration.millis(20), cap: Duration.millis(40) }
      })
      const { lines } = yield* captureLogs(Effect.gen(function*() {
        const fiber = yield* Effect.fork(s.loop.run)
        yield* Effect.sleep("150 millis")
        yield* hub.setMode({ _tag: "Refusing" })
        yield* Effect.sleep("150 millis")
        yield* Fiber.interrupt(fiber)
      }))
      const text = lines.join("\n")
      expect(text).toContain("HubRejected")
      expect(text).toContain("HubUnreachable")
      expect(text).not.toContain(SECRET)
    }).pipe(Effect.scoped))
})

describe("readHubToken", () => {
  it.live("reads a token file into a Redacted value and never quotes a bad one", () =>
    Effect.gen(function*() {
      const dir = path.dirname(yield* tempDb)
      const good = path.join(dir, "token")
      const bad = path.join(dir, "bad")
      fs.writeFileSync(good, `${SECRET}\n`)
      fs.writeFileSync(bad, `${SECRET} with spaces\n`)
      const token = yield* readHubToken(good)
      expect(Redacted.value(token)).toBe(SECRET)
      expect(String(token)).not.toContain(SECRET)
      const refused = yield* Effect.either(readHubToken(bad))
      expect(Either.isLeft(refused) && refused.left.message).not.toContain(SECRET)
      const missing = yield* Effect.either(readHubToken(path.join(dir, "absent")))
      expect(Either.isLeft(missing) && missing.left._tag).toBe("HubTokenUnreadable")
    }).pipe(Effect.scoped))
})

describe("parseHubUrl", () => {
  it("takes https, http only to loopback, and never credentials in the URL", () => {
    expect(Either.isRight(parseHubUrl("https://hub.example/felhom"))).toBe(true)
    expect(Either.isRight(parseHubUrl("http://127.0.0.1:8080"))).toBe(true)
    expect(Either.isLeft(parseHubUrl("http://hub.example"))).toBe(true)
    expect(Either.isRight(parseHubUrl("http://hub.example", { insecureHttp: true }))).toBe(true)
    expect(Either.isLeft(parseHubUrl("https://user:pw@hub.example"))).toBe(true)
    expect(Either.isLeft(parseHubUrl("not a url"))).toBe(true)
  })
})

describe("HubClient TLS trust", () => {
  // Any HTTPS server proves the pin: the PVE simulator's answers 501 to hub paths, which is
  // enough to tell "TLS let us through" from "the pin refused the connection".
  const withHttpsServer = <A, E>(f: (sim: Sim["Type"]) => Effect.Effect<A, E, Scope.Scope>) =>
    Effect.scoped(Effect.flatMap(Sim, f)).pipe(Effect.provide(Sim.layer()))

  const hubClient = (settings: Omit<HubClientSettings, "agentId" | "token">) =>
    Effect.map(
      Layer.build(HubClient.layer({ agentId: AGENT, token: Redacted.make(SECRET), ...settings })),
      (ctx) => Context.get(ctx, HubClient)
    )

  it.live("a pinned hub certificate is trusted; a wrong pin refuses before the token is sent", () =>
    withHttpsServer((sim) =>
      Effect.gen(function*() {
        const pinned = yield* hubClient({ url: new URL(sim.url), fingerprint: sim.fingerprint })
        expect(yield* Effect.flip(pinned.fetchDesired(undefined))).toMatchObject({ _tag: "HubRejected", status: 501 })
        const wrong = sim.fingerprint.startsWith("AA")
          ? "BB" + sim.fingerprint.slice(2)
          : "AA" + sim.fingerprint.slice(2)
        const refused = yield* Effect.flip(
          (yield* hubClient({ url: new URL(sim.url), fingerprint: wrong })).fetchDesired(undefined)
        )
        expect(refused._tag).toBe("HubUnreachable")
        expect(refused.message).toContain("FELHOM_FINGERPRINT_MISMATCH")
        const unpinned = yield* Effect.flip((yield* hubClient({ url: new URL(sim.url) })).fetchDesired(undefined))
        expect(unpinned._tag).toBe("HubUnreachable")
      })
    ))
})
