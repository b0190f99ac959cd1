import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { X509Certificate } from "node:crypto"
import * as http from "node:http"
import * as https from "node:https"
import type { TLSSocket } from "node:tls"
import { startSimulator } from "../../src/sim/Simulator.js"
import { dataObject, dataRows, request } from "./client.js"

/** A plain-HTTP request (no TLS) to `url`, answering status and Location. */
const plainHttp = (url: string, method: string) =>
  Effect.promise(
    () =>
      new Promise<{ readonly status: number; readonly location: string | undefined }>((resolve, reject) => {
        const req = http.request(url, { method, agent: false }, (res) => {
          res.resume()
          res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }))
        })
        req.on("error", reject)
        req.end(method === "POST" ? "a=1" : undefined)
      })
  )

// pve-http-server `PVE::APIServer::AnyEvent` (`response`, `new`), pve-common
// `PVE::Certificate::get_certificate_fingerprint`.
describe("transport: TLS, compression and server limits", () => {
  it.scoped("HTTPS with a CA-signed leaf; fingerprint = SHA-256 of the leaf, shown as ssl_fingerprint", () =>
    Effect.gen(function*() {
      const s = yield* startSimulator({ authFailureDelay: 0 })
      expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
      expect(s.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
      const peer = yield* Effect.promise(
        () =>
          new Promise<string>((resolve, reject) => {
            const req = https.request(`${s.url}/api2/json/version`, { ca: s.caPem, agent: false }, (res) => {
              const cert = (res.socket as TLSSocket).getPeerCertificate()
              res.resume()
              resolve(cert.fingerprint256)
            })
            req.on("error", reject)
            req.end()
          })
      )
      expect(peer).toBe(s.fingerprint)
      expect(new X509Certificate(s.caPem).subject).toContain("CN=felhom sim CA")
      const nodes = dataRows(yield* request(s, "/nodes"))
      expect(nodes[0]).toMatchObject({
        id: "node/pve1",
        node: "pve1",
        type: "node",
        status: "online",
        ssl_fingerprint: s.fingerprint
      })
    }))

  it.scoped("bodies over 1024 bytes are gzipped when asked; small ones are not", () =>
    Effect.gen(function*() {
      const s = yield* startSimulator({ https: false, authFailureDelay: 0, guests: 30 })
      const big = yield* request(s, "/cluster/resources", { headers: { "accept-encoding": "gzip" } })
      expect(big.headers["content-encoding"]).toBe("gzip")
      expect(dataRows(big).length).toBeGreaterThan(30)
      const small = yield* request(s, "/version", { headers: { "accept-encoding": "gzip" } })
      expect(small.headers["content-encoding"]).toBeUndefined()
    }))

  it.scoped("idle keep-alive connections are closed by the server after idleTimeout", () =>
    Effect.gen(function*() {
      const s = yield* startSimulator({ https: false, authFailureDelay: 0, idleTimeout: 100 })
      const closed = yield* Effect.promise(
        () =>
          new Promise<boolean>((resolve, reject) => {
            const agent = new http.Agent({ keepAlive: true })
            const req = http.request(`${s.url}/api2/json/version`, { agent }, (res) => {
              res.resume()
              res.on("end", () => res.socket.on("close", () => resolve(true)))
            })
            req.on("error", reject)
            req.end()
          })
      )
      expect(closed).toBe(true)
    }))

  it.scoped("plain HTTP on the TLS port is redirected to https: 301 for GET/HEAD, 308 otherwise; TLS still served", () =>
    Effect.gen(function*() {
      const s = yield* startSimulator({ authFailureDelay: 0 })
      const { port } = new URL(s.url)
      const plain = `http://127.0.0.1:${port}/api2/json/version?_dc=1`
      const target = `https://127.0.0.1:${port}/api2/json/version?_dc=1`
      expect(yield* plainHttp(plain, "GET")).toEqual({ status: 301, location: target })
      expect(yield* plainHttp(plain, "HEAD")).toEqual({ status: 301, location: target })
      expect(yield* plainHttp(plain, "POST")).toEqual({ status: 308, location: target })
      expect(yield* plainHttp(plain, "PUT")).toEqual({ status: 308, location: target })
      // The same port keeps serving the API over TLS, before and after the redirects.
      expect(dataObject(yield* request(s, "/version")).release).toBe("9.2")
      const again = yield* plainHttp(plain, "GET")
      expect(again.status).toBe(301)
      expect(dataRows(yield* request(s, "/nodes"))[0]?.ssl_fingerprint).toBe(s.fingerprint)
    }))
})
