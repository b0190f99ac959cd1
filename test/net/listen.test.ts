import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Scope } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { listen, ListenFailed } from "../../src/net/listen.js"

const connects = (port: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

describe("listen", () => {
  it.live("port 0 answers the port the kernel chose; closing the scope frees it", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const port = yield* Scope.extend(listen(net.createServer(), { host: "127.0.0.1", port: 0 }), scope)
      expect(port).toBeGreaterThan(0)
      expect(yield* connects(port)).toBe(true)
      yield* Scope.close(scope, Exit.void)
      expect(yield* connects(port)).toBe(false)
    }))

  it.scopedLive("a taken port fails with ListenFailed naming the address and Node's reason", () =>
    Effect.gen(function*() {
      const port = yield* listen(net.createServer(), { host: "127.0.0.1", port: 0 })
      const error = yield* Effect.flip(listen(net.createServer(), { host: "127.0.0.1", port }))
      expect(error).toBeInstanceOf(ListenFailed)
      expect(error.message).toMatch(new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${port}: listen EADDRINUSE`))
    }))

  it.live("closing an http server cuts a connection whose request is still unanswered instead of waiting for it", () =>
    Effect.gen(function*() {
      const arrived = yield* Deferred.make<void>()
      // Never answers: `server.close` alone would wait for this connection for ever.
      const server = http.createServer(() => Deferred.unsafeDone(arrived, Exit.void))
      const scope = yield* Scope.make()
      const port = yield* Scope.extend(listen(server, { host: "127.0.0.1", port: 0 }), scope)
      const request = http.get({ host: "127.0.0.1", port }).once("error", () => undefined)
      yield* Deferred.await(arrived)
      // Disconnected: a close that hangs fails this test instead of hanging it.
      const closed = yield* Effect.either(Effect.timeout(Effect.disconnect(Scope.close(scope, Exit.void)), "2 seconds"))
      request.destroy()
      expect(closed._tag).toBe("Right")
    }))

  it.scopedLive("listens on a unix socket path (port 0) and serves it", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "felhom-listen-"))),
        (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
      )
      const socketPath = path.join(dir, "s.sock")
      const server = net.createServer((conn) => conn.end("hello"))
      expect(yield* listen(server, { path: socketPath })).toBe(0)
      const answer = yield* Effect.async<string>((resume) => {
        let text = ""
        net.connect(socketPath).setEncoding("utf8").on("data", (d: string) => {
          text += d
        }).on("end", () => resume(Effect.succeed(text)))
      })
      expect(answer).toBe("hello")
    }))
})
