/**
 * A scripted HTTP server on 127.0.0.1 for transport edge cases the simulator should not fake:
 * each request is answered by the handler, which may also destroy the socket unanswered.
 */
import * as Http from "node:http"
import { Effect, type Scope } from "effect"

export interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: Http.IncomingHttpHeaders
}

export type Handler = (req: Http.IncomingMessage, res: Http.ServerResponse, index: number) => void

export const rawServer = (handler: Handler): Effect.Effect<{ readonly url: string; readonly seen: ReadonlyArray<Seen> }, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: Http.Server; url: string; seen: Array<Seen> }>((resume) => {
      const seen: Array<Seen> = []
      const server = Http.createServer((req, res) => {
        seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers })
        req.resume()
        req.on("end", () => handler(req, res, seen.length - 1))
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        resume(Effect.succeed({ server, url: `http://127.0.0.1:${port}`, seen }))
      })
    }),
    ({ server }) => Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
      server.closeAllConnections()
    })
  ).pipe(Effect.map(({ seen, url }) => ({ url, seen })))
