/**
 * The CLI's side of the daemon's control socket (daemon/controlProtocol.ts). An acting command
 * first asks whether a daemon serves `<stateDir>/control.sock`: if so, the daemon — the state
 * directory's single writer — runs the request and the CLI prints its output; if not, the CLI
 * takes the state directory's lock and runs the request itself.
 */
import { Data, Effect, Either, Option } from "effect"
import * as net from "node:net"
import * as path from "node:path"
import type { CommandOutput } from "../app/requests.js"
import { CONTROL_SOCKET, type ControlRequest, decodeReply } from "../daemon/controlProtocol.js"

/** The daemon refused or failed the request; its message is the command's error line. */
export class DaemonRefused
  extends Data.TaggedError("DaemonRefused")<{ readonly tag: string; readonly reason: string }>
{
  override get message(): string {
    return this.reason
  }
}

/** A daemon's socket exists but could not be used (permissions, a broken answer, a hang-up). */
export class DaemonUnreachable
  extends Data.TaggedError("DaemonUnreachable")<{ readonly socket: string; readonly reason: string }>
{
  override get message(): string {
    return `the running daemon (${this.socket}) ${this.reason}`
  }
}

/** connect(2) answers that say no daemon listens there. */
const NO_DAEMON = new Set(["ENOENT", "ECONNREFUSED"])

const codeOf = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : undefined

type Settled = Either.Either<Option.Option<CommandOutput>, DaemonRefused | DaemonUnreachable>

/**
 * Sends `request` to the daemon of `stateDir` and waits for its output. None when no daemon
 * listens there. Progress (the daemon's PID, a wait for its recovery) is logged to stderr.
 */
export const askDaemon = (
  stateDir: string,
  request: ControlRequest,
  options: { readonly quiet?: boolean } = {}
): Effect.Effect<Option.Option<CommandOutput>, DaemonRefused | DaemonUnreachable> =>
  Effect.flatMap(
    // The progress line is printed from a socket callback, so through the console's unsafe side.
    Effect.consoleWith((console) =>
      Effect.async<Settled>((resume) => {
        const socket = path.join(stateDir, CONTROL_SOCKET)
        const unreachable = (reason: string) => Either.left(new DaemonUnreachable({ socket, reason }))
        const conn = net.createConnection(socket)
        let connected = false
        let settled = false
        let buffer = ""
        const settle = (result: Settled) => {
          if (settled) return
          settled = true
          conn.destroy()
          resume(Effect.succeed(result))
        }
        conn.on("connect", () => {
          connected = true
          conn.write(`${JSON.stringify(request)}\n`)
        })
        conn.on("data", (chunk: Buffer) => {
          buffer += chunk.toString("utf8")
          let newline = buffer.indexOf("\n")
          while (newline !== -1 && !settled) {
            const line = buffer.slice(0, newline)
            buffer = buffer.slice(newline + 1)
            newline = buffer.indexOf("\n")
            const reply = decodeReply(line)
            if (Either.isLeft(reply)) {
              return settle(unreachable(`sent an answer this CLI does not understand: ${reply.left.message}`))
            }
            const r = reply.right
            switch (r.type) {
              case "accepted":
                if (options.quiet === true) break
                console.unsafe.error(
                  `felhom-agent: handed to the running daemon (PID ${r.pid})${
                    r.ready ? "" : "; waiting for its start-up recovery"
                  }`
                )
                break
              case "output":
                return settle(Either.right(Option.some({
                  exitCode: r.exitCode,
                  text: r.text,
                  json: r.json,
                  ...(r.error === undefined ? {} : { error: r.error })
                })))
              case "error":
                return settle(Either.left(new DaemonRefused({ tag: r.tag, reason: r.message })))
            }
          }
        })
        conn.on("error", (e) => {
          const code = codeOf(e)
          if (!connected && code !== undefined && NO_DAEMON.has(code)) return settle(Either.right(Option.none()))
          settle(
            unreachable(
              code === "EACCES" ? "refused the connection: run as root or as the daemon's user" : `failed: ${e.message}`
            )
          )
        })
        conn.on("close", () =>
          settle(
            unreachable(
              "closed the connection before answering; the request may have run: see `felhom-agent journal list`"
            )
          ))
        return Effect.sync(() => conn.destroy())
      })
    ),
    Either.match({ onLeft: Effect.fail, onRight: Effect.succeed })
  )
