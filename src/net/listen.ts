/**
 * Binding a server and closing it again, for every server the program and its tests run (the
 * simulator's listeners, the daemon's control socket, the test hub and stand-ins): the bound
 * port is read back in one place, a failed bind is a typed error instead of an `error` event
 * nobody listens to, and closing cuts the open connections unless the caller says otherwise:
 * `server.close` alone closes only idle ones and waits for every request still unanswered. It
 * sits on the lowest floor, in its own folder (domain holds values; this does I/O), because
 * both the simulator and the daemon use it (test/architecture/layers.test.ts).
 */
import { Data, Effect, type Scope } from "effect"
import type * as net from "node:net"

export class ListenFailed extends Data.TaggedError("ListenFailed")<{
  /** `host:port` or the socket path. */
  readonly address: string
  /** Node's own message, e.g. `listen EADDRINUSE: address already in use 127.0.0.1:9105`. */
  readonly reason: string
}> {
  override get message(): string {
    return `cannot listen on ${this.address}: ${this.reason}`
  }
}

export type ListenAddress = { readonly host: string; readonly port: number } | { readonly path: string }

/** An http(s) server carries `closeAllConnections`; a plain `net.Server` does not. */
export type Listener = net.Server & { readonly closeAllConnections?: () => void }

const describeAddress = (at: ListenAddress): string => ("path" in at ? at.path : `${at.host}:${at.port}`)

/** Binds `server`; answers the TCP port bound (the kernel's choice for port 0), or 0 on a socket path. */
export const listenOn = (server: net.Server, at: ListenAddress): Effect.Effect<number, ListenFailed> =>
  Effect.async<number, ListenFailed>((resume) => {
    const onError = (e: Error) =>
      resume(Effect.fail(new ListenFailed({ address: describeAddress(at), reason: e.message })))
    server.once("error", onError)
    const onListening = () => {
      server.off("error", onError)
      const address = server.address()
      resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
    }
    if ("path" in at) server.listen(at.path, onListening)
    else server.listen(at.port, at.host, onListening)
  })

/**
 * Stops listening and waits until the server has closed; `cut` ends the open connections
 * (default: the server's own `closeAllConnections`, when it has one).
 */
export const closeServer = (
  server: Listener,
  cut: () => void = () => server.closeAllConnections?.()
): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (!server.listening) return resume(Effect.void)
    server.close(() => resume(Effect.void))
    cut()
  })

/** `listenOn` for the life of the scope: closed with it (see `closeServer` for `cut`). */
export const listen = (
  server: Listener,
  at: ListenAddress,
  cut?: () => void
): Effect.Effect<number, ListenFailed, Scope.Scope> =>
  Effect.acquireRelease(listenOn(server, at), () => closeServer(server, cut))
