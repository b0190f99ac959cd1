/**
 * The hub bearer token, read from a file (a systemd credential, typically) into a Redacted
 * value at start-up. The token is never quoted back: not in an error, not in a log line.
 */
import { Effect, Either, Redacted } from "effect"
import * as fs from "node:fs"
import { HubTokenUnreadable } from "./HubError.js"

/** RFC 6750 b64token: what may follow `Bearer ` without breaking the header. */
const B64TOKEN = /^[A-Za-z0-9._~+/-]+=*$/
const MAX_TOKEN_BYTES = 4096

export const readHubToken = (file: string): Effect.Effect<Redacted.Redacted<string>, HubTokenUnreadable> =>
  Effect.tryPromise({
    try: () => fs.promises.readFile(file, "utf8"),
    // The errno text names the file and the failure, never its content.
    catch: (cause) => new HubTokenUnreadable({ file, reason: cause instanceof Error ? cause.message : "cannot read" })
  }).pipe(
    Effect.flatMap((text) => {
      // One trailing newline is what `echo > file` writes; anything else inside is refused.
      const token = text.replace(/\r?\n$/, "")
      if (token.length === 0) return Effect.fail(new HubTokenUnreadable({ file, reason: "the file is empty" }))
      if (token.length > MAX_TOKEN_BYTES) {
        return Effect.fail(new HubTokenUnreadable({ file, reason: `longer than ${MAX_TOKEN_BYTES} characters` }))
      }
      if (!B64TOKEN.test(token)) {
        return Effect.fail(
          new HubTokenUnreadable({ file, reason: "not a bearer token (RFC 6750 b64token characters only)" })
        )
      }
      return Effect.succeed(Redacted.make(token))
    })
  )

const isLoopback = (hostname: string): boolean =>
  hostname === "localhost" || hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(hostname)

/**
 * The hub base URL from configuration: https, or plain http to loopback only (a test hub),
 * unless the operator explicitly allows it. A bearer token over plain http to another host
 * would be readable by anyone on the path.
 */
export const parseHubUrl = (
  text: string,
  options: { readonly insecureHttp?: boolean } = {}
): Either.Either<URL, string> => {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return Either.left(`hub URL ${JSON.stringify(text)} is not a URL`)
  }
  if (url.username !== "" || url.password !== "") {
    return Either.left("hub URL must not carry credentials (the token comes from its file)")
  }
  if (url.search !== "" || url.hash !== "") return Either.left("hub URL must not have a query or fragment")
  if (url.protocol === "https:") return Either.right(url)
  if (url.protocol === "http:" && (isLoopback(url.hostname) || options.insecureHttp === true)) return Either.right(url)
  return Either.left(`hub URL must be https (plain http only to a loopback address), got ${url.protocol}//${url.host}`)
}
