/**
 * A scripted HTTP server on 127.0.0.1 for transport edge cases the simulator should not fake:
 * each request is answered by the handler, which may also destroy the socket unanswered.
 */
import { Effect, type Scope } from "effect"
import * as Http from "node:http"
import { listen } from "../../src/net/listen.js"

export interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: Http.IncomingHttpHeaders
}

export type Handler = (req: Http.IncomingMessage, res: Http.ServerResponse, index: number) => void

export const rawServer = (
  handler: Handler
): Effect.Effect<{ readonly url: string; readonly seen: ReadonlyArray<Seen> }, never, Scope.Scope> =>
  Effect.suspend(() => {
    const seen: Array<Seen> = []
    const server = Http.createServer((req, res) => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers })
      req.resume()
      req.on("end", () => handler(req, res, seen.length - 1))
    })
    return Effect.map(
      Effect.orDie(listen(server, { host: "127.0.0.1", port: 0 })),
      (port) => ({ url: `http://127.0.0.1:${port}`, seen })
    )
  })
