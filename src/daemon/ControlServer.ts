/**
 * The daemon's control socket, `<stateDir>/control.sock`: where `apply`, `revert` and `op submit`
 * hand their request to the running daemon (controlProtocol.ts, docs/control-protocol.md). The
 * daemon runs each through its own queue, gate and journal — the same request effects the CLI
 * runs when no daemon does (app/requests.ts) — so it stays the single writer of the journal.
 *
 * Who may connect: the socket is 0600 inside the 0700 state directory, and connect(2) on a unix
 * socket needs write permission on the socket file, so the kernel admits only the daemon's own
 * user and root before a byte is read. (Node has no API for SO_PEERCRED; the file modes are the
 * check.) The socket is bound under a temporary name, made 0600, and only then renamed into
 * place, so it is never reachable with looser modes.
 */
import { Data, Effect, Either, FiberSet, type Scope } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import type { CommandOutput } from "../app/requests.js"
import { listen } from "../net/listen.js"
import {
  CONTROL_SOCKET,
  type ControlReply,
  type ControlRequest,
  decodeRequest,
  MAX_REQUEST_BYTES
} from "./controlProtocol.js"

export class ControlSocketError
  extends Data.TaggedError("ControlSocketError")<{ readonly path: string; readonly reason: string }>
{
  override get message(): string {
    return `cannot serve the control socket ${this.path}: ${this.reason}`
  }
}

/** Any typed error a request may end with: its tag and one line reach the CLI. */
export interface Described {
  readonly _tag: string
  readonly message: string
}

export interface ControlServerOptions<R> {
  readonly stateDir: string
  /** Whether start-up recovery is done (told to the client), and the wait for it. */
  readonly isReady: Effect.Effect<boolean>
  readonly awaitReady: Effect.Effect<void>
  readonly handle: (request: ControlRequest) => Effect.Effect<CommandOutput, Described, R>
}

const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** The first line the client sends (at most MAX_REQUEST_BYTES), or the reason there is none. */
const readRequestLine = (conn: net.Socket) =>
  Effect.async<string, string>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const onData = (chunk: Buffer) => {
      const newline = chunk.indexOf(0x0a)
      chunks.push(newline === -1 ? chunk : chunk.subarray(0, newline))
      size += chunk.length
      if (newline !== -1) finish(Either.right(Buffer.concat(chunks).toString("utf8")))
      else if (size > MAX_REQUEST_BYTES) finish(Either.left(`request longer than ${MAX_REQUEST_BYTES} bytes`))
    }
    const onEnd = () => finish(Either.left("connection closed before a complete request line"))
    const onError = (e: Error) => finish(Either.left(e.message))
    const finish = (result: Either.Either<string, string>) => {
      conn.off("data", onData).off("end", onEnd).off("error", onError)
      conn.pause()
      resume(Either.match(result, { onLeft: Effect.fail, onRight: Effect.succeed }))
    }
    conn.on("data", onData).on("end", onEnd).on("error", onError)
    return Effect.sync(() => conn.off("data", onData).off("end", onEnd).off("error", onError))
  })

const send = (conn: net.Socket, reply: ControlReply) =>
  Effect.sync(() => {
    if (!conn.destroyed) conn.write(`${JSON.stringify(reply)}\n`)
  })

const serveOne = <R>(conn: net.Socket, options: ControlServerOptions<R>) =>
  Effect.gen(function*() {
    const line = yield* readRequestLine(conn).pipe(
      // A request too long to read is answered, so the CLI does not report a hang-up.
      Effect.tapError((reason) =>
        reason.startsWith("request longer")
          ? send(conn, { type: "error", tag: "ControlRequestInvalid", message: `bad control request: ${reason}` })
          : Effect.void
      )
    )
    const request = decodeRequest(line)
    if (Either.isLeft(request)) {
      return yield* send(conn, {
        type: "error",
        tag: "ControlRequestInvalid",
        message: `bad control request: ${request.left.message}`
      })
    }
    yield* send(conn, { type: "accepted", pid: process.pid, ready: yield* options.isReady })
    // Only `status` is answered while start-up recovery runs: it is how one asks why.
    if (request.right.command !== "status") yield* options.awaitReady
    yield* Effect.logInfo("control request").pipe(Effect.annotateLogs({ command: request.right.command }))
    const reply = yield* options.handle(request.right).pipe(
      Effect.match({
        onFailure: (e): ControlReply => ({ type: "error", tag: e._tag, message: e.message }),
        onSuccess: (o): ControlReply => ({
          type: "output",
          exitCode: o.exitCode,
          text: o.text,
          json: o.json,
          ...(o.error === undefined ? {} : { error: o.error })
        })
      })
    )
    yield* send(conn, reply)
  }).pipe(
    Effect.catchAll((reason) => Effect.logWarning("control connection dropped").pipe(Effect.annotateLogs({ reason }))),
    Effect.ensuring(Effect.sync(() => conn.end()))
  )

/** Serves the control socket until the scope closes; the socket file is removed then. */
export const serveControl = <R>(
  options: ControlServerOptions<R>
): Effect.Effect<void, ControlSocketError, Scope.Scope | R> =>
  Effect.gen(function*() {
    const socketPath = path.join(options.stateDir, CONTROL_SOCKET)
    const temp = path.join(options.stateDir, `.control.${process.pid}.sock`)
    const run = yield* FiberSet.makeRuntime<R>()
    const fail = (reason: string) => new ControlSocketError({ path: socketPath, reason })
    const server = net.createServer((conn) => {
      conn.on("error", () => undefined) // a client that goes away mid-answer is logged by serveOne
      run(serveOne(conn, options))
    })
    // The daemon holds the state directory's lock: a socket file left here is a dead daemon's.
    yield* Effect.sync(() => fs.rmSync(temp, { force: true }))
    // Closed without cutting connections: a request being answered is answered first.
    yield* Effect.mapError(listen(server, { path: temp }), (e) => fail(e.reason))
    // From now on an `error` is an accept that failed (EMFILE): that client is lost, the socket
    // keeps serving. Unhandled, the event would end the daemon.
    server.on("error", (e) =>
      run(
        Effect.logWarning("control socket: a connection could not be accepted").pipe(
          Effect.annotateLogs({ reason: e.message })
        )
      ))
    yield* Effect.try({
      try: () => {
        fs.chmodSync(temp, 0o600)
        fs.renameSync(temp, socketPath)
      },
      catch: (e) => fail(errorMessage(e))
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(socketPath, { force: true })))
  })
