/**
 * The hub protocol v1 client (docs/hub-protocol.md): three calls, each under an Effect
 * deadline (undici's own timeouts are 1 h / none, so ours is the only one), each body read with a hard
 * size bound before it is parsed, each answer decoded with Schema, each failure one typed
 * error. The bearer token is Redacted and only unwrapped into the request header: no error,
 * log line or report can carry it (invariant 8). Redirects are not followed, so the token is
 * never presented to another origin. Nothing is retried here: the HubLoop owns the backoff.
 */
import {
  HttpBody,
  type HttpClient,
  type HttpClientError,
  HttpClientRequest,
  type HttpClientResponse
} from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Clock, Context, Data, Duration, Effect, Either, Layer, Option, Redacted, Schema, Stream } from "effect"
import { Agent } from "undici"
import { quote } from "../authz/SignedOpError.js"
import { issuesOf, parseJsonBytes } from "../authz/verifyEnvelope.js"
import { pinningConnector } from "../pve/dispatcher.js"
import {
  HubBadResponse,
  type HubError,
  type HubOperation,
  HubRejected,
  HubReportInvalid,
  HubUnreachable
} from "./HubError.js"
import { HubErrorBody, MAX_DESIRED_BYTES, MAX_OPS_BYTES, OpsResponse, Report } from "./protocol.js"

export type DesiredFetch = Data.TaggedEnum<{
  /** 304: the document behind our ETag is still current; nothing to verify. */
  NotModified: {}
  /** 200: the raw envelope bytes (verified by HubDesired, not here) and the ETag, if sent. */
  Fetched: { readonly envelopeBytes: Uint8Array; readonly etag: string | undefined }
}>
export const DesiredFetch = Data.taggedEnum<DesiredFetch>()

export interface HubClientShape {
  readonly fetchDesired: (etag: string | undefined) => Effect.Effect<DesiredFetch, HubError>
  /** The op envelopes with seq > after, as the hub sent them (unverified). */
  readonly fetchOps: (after: number) => Effect.Effect<ReadonlyArray<unknown>, HubError>
  readonly postReport: (report: Report) => Effect.Effect<void, HubError | HubReportInvalid>
}

export class HubClient extends Context.Tag("felhom/HubClient")<HubClient, HubClientShape>() {
  /** A live client with its own undici Agent (closed with the layer). */
  static readonly layer = (settings: HubClientSettings): Layer.Layer<HubClient> =>
    Layer.scoped(
      HubClient,
      Effect.gen(function*() {
        const agent = yield* Effect.acquireRelease(
          Effect.sync(() => new Agent({ connect: connectOptions(settings) })),
          (a) => Effect.promise(() => a.close())
        )
        return make(settings, NodeHttpClient.makeUndici(agent))
      })
    )
}

/** The same trust choices as for PVE: a pinned leaf, a CA file, or the system CAs. */
const connectOptions = (settings: HubClientSettings): Agent.Options["connect"] =>
  settings.fingerprint !== undefined
    ? pinningConnector(settings.fingerprint.toUpperCase())
    : settings.caPem === undefined
    ? { timeout: 10_000 }
    : { ca: settings.caPem, timeout: 10_000 }

export interface HubClientSettings {
  /** e.g. `https://hub.example/felhom`; `/v1/agents/{id}/…` is appended. */
  readonly url: URL
  readonly agentId: string
  readonly token: Redacted.Redacted<string>
  /** Trust anchors for the hub's certificate (PEM); default the system CAs. */
  readonly caPem?: string | undefined
  /** Pin of the hub's leaf certificate (SHA-256, `AB:CD:…`); replaces chain and hostname checks. */
  readonly fingerprint?: string | undefined
  /** Deadline of one request, body included; default 30 s. */
  readonly requestTimeout?: Duration.DurationInput | undefined
}

export const DEFAULT_REQUEST_TIMEOUT = Duration.seconds(30)
/** Error bodies are only read for a one-line reason; more is not worth buffering. */
const MAX_ERROR_BODY_BYTES = 4 * 1024
/** A Retry-After beyond an hour is taken as an hour: a hub must not silence an agent for days. */
const MAX_RETRY_AFTER_SECONDS = 3_600

class TooLarge extends Data.TaggedError("TooLarge")<{ readonly limit: number }> {}

const errorCode = (cause: unknown): string | undefined =>
  typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined

const transport = (operation: HubOperation) => (error: HttpClientError.HttpClientError): HubUnreachable => {
  const cause = error.cause
  const code = errorCode(cause)
  const text = cause instanceof Error ? cause.message : error.reason
  return new HubUnreachable({ operation, reason: code === undefined ? text : `${code}: ${text}` })
}

/** Reads at most `limit` bytes; a Content-Length above it is refused before any byte is read. */
const readBounded = (
  operation: HubOperation,
  response: HttpClientResponse.HttpClientResponse,
  limit: number
): Effect.Effect<Uint8Array, HubUnreachable | TooLarge> => {
  const declared = Number(response.headers["content-length"] ?? "NaN")
  if (Number.isFinite(declared) && declared > limit) return Effect.fail(new TooLarge({ limit }))
  return response.stream.pipe(
    Stream.mapError(transport(operation)),
    Stream.runFoldEffect({ parts: new Array<Uint8Array>(), size: 0 }, (acc, chunk) => {
      const size = acc.size + chunk.length
      if (size > limit) return Effect.fail(new TooLarge({ limit }))
      acc.parts.push(chunk)
      return Effect.succeed({ parts: acc.parts, size })
    }),
    Effect.map(({ parts }) => new Uint8Array(Buffer.concat(parts)))
  )
}

const readBody = (operation: HubOperation, response: HttpClientResponse.HttpClientResponse, limit: number) =>
  readBounded(operation, response, limit).pipe(
    Effect.catchTag("TooLarge", (e) => new HubBadResponse({ operation, issue: `body larger than ${e.limit} bytes` }))
  )

/** Retry-After: delta-seconds or an HTTP date (RFC 9110 §10.2.3); bounded. */
const retryAfterOf = (header: string | undefined, nowMillis: number): number | undefined => {
  if (header === undefined) return undefined
  const trimmed = header.trim()
  const seconds = /^\d+$/.test(trimmed) ? Number(trimmed) : (Date.parse(trimmed) - nowMillis) / 1000
  return Number.isFinite(seconds) ? Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(0, Math.ceil(seconds))) : undefined
}

const rejected = (operation: HubOperation, response: HttpClientResponse.HttpClientResponse) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    // The reason is a nicety: a body we cannot read does not hide the status.
    const bytes = yield* readBounded(operation, response, MAX_ERROR_BODY_BYTES).pipe(Effect.option)
    const detail = Option.flatMap(bytes, (b) => {
      const json = parseJsonBytes(b)
      return Either.isRight(json) ? Schema.decodeUnknownOption(HubErrorBody)(json.right) : Option.none()
    })
    return yield* new HubRejected({
      operation,
      status: response.status,
      retryAfter: retryAfterOf(response.headers["retry-after"], now),
      detail: Option.match(detail, { onNone: () => "", onSome: (d) => quote(d.error, 200) })
    })
  })

const decodeJson = <A, I>(operation: HubOperation, schema: Schema.Schema<A, I>, bytes: Uint8Array) =>
  Either.match(parseJsonBytes(bytes), {
    onLeft: (issue) => Effect.fail(new HubBadResponse({ operation, issue })),
    onRight: (json) =>
      Schema.decodeUnknown(schema, { errors: "all", onExcessProperty: "ignore" })(json).pipe(
        Effect.mapError((e) =>
          new HubBadResponse({
            operation,
            issue: issuesOf(e).map((i) => `${i.path === "" ? "" : `${i.path}: `}${i.message}`).join("; ")
          })
        )
      )
  })

/** Builds the client over any HttpClient (tests may pass their own). */
export const make = (settings: HubClientSettings, client: HttpClient.HttpClient): HubClientShape => {
  const base = settings.url.href.replace(/\/+$/, "")
  const agentPath = `${base}/v1/agents/${encodeURIComponent(settings.agentId)}`
  const timeout = Duration.decode(settings.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT)

  const send = <A>(
    operation: HubOperation,
    request: HttpClientRequest.HttpClientRequest,
    onResponse: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<A, HubError>
  ): Effect.Effect<A, HubError> =>
    client.execute(
      request.pipe(
        HttpClientRequest.setHeader("authorization", `Bearer ${Redacted.value(settings.token)}`),
        HttpClientRequest.acceptJson
      )
    ).pipe(
      Effect.mapError(transport(operation)),
      Effect.flatMap(onResponse),
      Effect.scoped,
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => new HubUnreachable({ operation, reason: `no answer within ${Duration.format(timeout)}` })
      }),
      Effect.withSpan(`HubClient.${operation}`)
    )

  const fetchDesired = (etag: string | undefined) =>
    send(
      "GET desired",
      HttpClientRequest.get(`${agentPath}/desired`).pipe(
        etag === undefined ? (r) => r : HttpClientRequest.setHeader("if-none-match", etag)
      ),
      (response): Effect.Effect<DesiredFetch, HubError> => {
        if (response.status === 304 && etag !== undefined) return Effect.succeed(DesiredFetch.NotModified())
        if (response.status !== 200) return rejected("GET desired", response)
        return Effect.map(readBody("GET desired", response, MAX_DESIRED_BYTES), (envelopeBytes) =>
          DesiredFetch.Fetched({ envelopeBytes, etag: response.headers["etag"] }))
      }
    )

  const fetchOps = (after: number) =>
    send(
      "GET ops",
      HttpClientRequest.get(`${agentPath}/ops`).pipe(HttpClientRequest.setUrlParam("after", String(after))),
      (response): Effect.Effect<ReadonlyArray<unknown>, HubError> =>
        response.status !== 200
          ? rejected("GET ops", response)
          : readBody("GET ops", response, MAX_OPS_BYTES).pipe(
            Effect.flatMap((bytes) => decodeJson("GET ops", OpsResponse, bytes)),
            Effect.map((r) => r.ops)
          )
    )

  const postReport = (report: Report) =>
    Effect.flatMap(
      Schema.encode(Report)(report).pipe(
        Effect.mapError((e) => new HubReportInvalid({ issues: issuesOf(e).map((i) => `${i.path}: ${i.message}`) }))
      ),
      (encoded) =>
        send(
          "POST report",
          HttpClientRequest.post(`${agentPath}/report`).pipe(
            HttpClientRequest.setBody(HttpBody.text(JSON.stringify(encoded), "application/json"))
          ),
          (response): Effect.Effect<void, HubError> =>
            response.status === 204 || response.status === 200 || response.status === 202
              ? Effect.void
              : rejected("POST report", response)
        )
    )

  return { fetchDesired, fetchOps, postReport }
}
