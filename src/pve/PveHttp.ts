/**
 * One PVE request, start to finish: bounded concurrency (pveproxy serves 3 at a time), the
 * token header, a deadline, the `{"data": …}` envelope decoded with Schema, and every failure
 * turned into a typed `PveError`. Reads retry once on a stale keep-alive socket (pveproxy closes
 * idle ones after 5 s); mutations are sent exactly once and never retried here.
 */
import { HttpClient, type HttpClientError, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Clock, Duration, Effect, Exit, Option, ParseResult, Queue, Schema, type Scope } from "effect"
import * as Zlib from "node:zlib"
import type { Dispatcher } from "undici"
import { endpointTemplate, recordPveRequestAt } from "../domain/Metrics.js"
import { REASON_HEADER } from "./dispatcher.js"
import { toPveError } from "./errorMapping.js"
import type { PveConnectionSettings } from "./PveConnection.js"
import { PveBadResponse, type PveError, PveTimeout, PveTransport } from "./PveError.js"
import { authorizationHeader } from "./PveToken.js"
import type { ServerClock } from "./ServerClock.js"

export type ParamValue = string | number | boolean | ReadonlyArray<string>
export type Params = Readonly<Record<string, ParamValue | undefined>>

export interface PveRequest<A, I> {
  readonly method: "GET" | "POST" | "PUT" | "DELETE"
  /** Below `/api2/json`, e.g. `/nodes/pve1/qemu/100/config`. */
  readonly path: string
  readonly params?: Params
  /** The schema of the envelope's `data`. */
  readonly data: Schema.Schema<A, I>
  /** A sibling of `data` some GETs add (task log and list carry `total`). */
  readonly withTotal?: boolean
}

export interface PveResponse<A> {
  readonly data: A
  readonly total: number | undefined
}

export type Send = <A, I>(request: PveRequest<A, I>) => Effect.Effect<PveResponse<A>, PveError>

// PVE's booleans are the strings 1/0; the string "true" is a 400 (pve-common
// `PVE::JSONSchema::check_type`).
const encodeParams = (params: Params): Array<[string, string]> =>
  Object.entries(params).flatMap(([key, value]): Array<[string, string]> => {
    if (value === undefined) return []
    if (typeof value === "boolean") return [[key, value ? "1" : "0"]]
    if (typeof value === "number") return [[key, String(value)]]
    if (typeof value === "string") return [[key, value]]
    return value.map((v): [string, string] => [key, v])
  })

/** Errors raised before any request byte left: only these prove a mutation was not applied. */
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
  "FELHOM_FINGERPRINT_MISMATCH",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID"
])
/** A keep-alive socket the server had already closed. */
const STALE_SOCKET_CODES = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED"])

const errorCode = (cause: unknown): string | undefined => {
  if (typeof cause !== "object" || cause === null || !("code" in cause)) return undefined
  return typeof cause.code === "string" ? cause.code : undefined
}

const causeMessage = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

const toTransport = (method: string, path: string, error: HttpClientError.HttpClientError): PveTransport => {
  const cause = error.cause
  const code = errorCode(cause)
  const reason = code !== undefined ? `${code}: ${causeMessage(cause)}` : causeMessage(cause)
  return new PveTransport({ method, path, code, requestSent: code === undefined || !NOT_SENT_CODES.has(code), reason })
}

const isStaleSocket = (error: PveError): boolean =>
  error._tag === "PveTransport" && error.code !== undefined && STALE_SOCKET_CODES.has(error.code)

/**
 * pveproxy compresses bodies over 1 KiB when asked (pve-http-server
 * `PVE::APIServer::AnyEvent::response`). undici's request API does not decode them (its
 * decompress interceptor is experimental and warns on stderr).
 */
const bodyText = (method: string, path: string, response: HttpClientResponse.HttpClientResponse) =>
  Effect.flatMap(
    Effect.mapError(response.arrayBuffer, (error) => toTransport(method, path, error)),
    (buffer) =>
      Effect.try({
        try: () => {
          const bytes = Buffer.from(buffer)
          const encoding = (response.headers["content-encoding"] ?? "").trim().toLowerCase()
          const plain = encoding === "gzip"
            ? Zlib.gunzipSync(bytes)
            : encoding === "deflate"
            ? Zlib.inflateSync(bytes)
            : bytes
          return plain.toString("utf8")
        },
        catch: (cause) =>
          new PveBadResponse({ method, path, issue: `undecodable compressed body: ${causeMessage(cause)}` })
      })
  )

const ErrorBody = Schema.parseJson(Schema.Struct({
  message: Schema.optional(Schema.String),
  errors: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
}))

/**
 * A FIFO permit pool: Queue takers are served in arrival order, in O(1). Effect 3.22's
 * `Semaphore` wakes every waiter on each release (O(n²)) and lets a releasing fiber overtake them.
 */
const makePermits = (n: number) =>
  Effect.gen(function*() {
    const tokens = yield* Queue.bounded<void>(n)
    yield* tokens.offerAll(Array.from({ length: n }, () => undefined))
    return <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Effect.acquireUseRelease(Queue.take(tokens), () => effect, () => Queue.offer(tokens, undefined))
  })

export const makeSend = (
  settings: PveConnectionSettings,
  dispatcher: Dispatcher,
  serverClock: ServerClock
): Effect.Effect<Send, never, Scope.Scope> =>
  Effect.gen(function*() {
    // The HttpClient's own span and propagation headers stay off: building them for thousands of
    // requests per pass was measurable CPU, and PVE reads no traceparent. Each request gets one
    // "pve.request" span of ours instead, which is Effect's no-op span unless tracing is on.
    const client = NodeHttpClient.makeUndici(dispatcher).pipe(
      HttpClient.withTracerDisabledWhen(() => true),
      HttpClient.withTracerPropagation(false)
    )
    const withPermit = yield* makePermits(settings.concurrency)
    const base = `${settings.url.origin}/api2/json`
    const auth = authorizationHeader(settings.token)
    const timeout = settings.requestTimeout

    const once = <A, I>(req: PveRequest<A, I>): Effect.Effect<PveResponse<A>, PveError> => {
      // Computed once per request, for the metric and the span: a bounded label, never the path.
      const endpoint = endpointTemplate(req.path)
      const params = encodeParams(req.params ?? {})
      const url = new URL(base + req.path)
      const request = HttpClientRequest.make(req.method)(url).pipe(
        HttpClientRequest.setHeaders({
          authorization: auth,
          "accept-encoding": "gzip, deflate",
          accept: "application/json"
        }),
        // GET/DELETE carry parameters in the query; a body there is a 501 (pve-http-server
        // `PVE::APIServer::AnyEvent::authenticate_and_handle_request`).
        (r) =>
          req.method === "GET" || req.method === "DELETE"
            ? HttpClientRequest.setUrlParams(r, params)
            : HttpClientRequest.bodyUrlParams(r, params)
      )
      const attempt = client.execute(request).pipe(
        Effect.mapError((error) => toTransport(req.method, req.path, error)),
        Effect.tap((response) =>
          Effect.map(Clock.currentTimeMillis, (now) => serverClock.observe(response.headers["date"], now))
        ),
        Effect.flatMap((response) =>
          Effect.map(bodyText(req.method, req.path, response), (text) => ({
            status: response.status,
            reason: Option.getOrElse(Option.fromNullable(response.headers[REASON_HEADER]), () => ""),
            text
          }))
        ),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new PveTimeout({ operation: `${req.method} ${req.path}`, afterMillis: Duration.toMillis(timeout) })
        })
      )
      // Latency by endpoint template and status, per attempt (a retried read counts twice).
      const timed = Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const exit = yield* Effect.exit(attempt)
        const seconds = ((yield* Clock.currentTimeMillis) - started) / 1000
        const status = Exit.isSuccess(exit) ? exit.value.status : "error"
        yield* recordPveRequestAt(req.method, endpoint, status, seconds)
        if (status !== "error") yield* Effect.annotateCurrentSpan("http.response.status_code", status)
        return yield* exit
      })
      return withPermit(timed).pipe(
        Effect.flatMap(({ reason, status, text }) =>
          status >= 400 ? Effect.fail(errorAnswer(req, status, reason, text)) : decodeEnvelope(req, text)
        ),
        // No stack capture: an Error per request is the one cost a span would add when tracing is off.
        Effect.withSpan("pve.request", {
          kind: "client",
          captureStackTrace: false,
          attributes: { "http.request.method": req.method, "pve.endpoint": endpoint }
        })
      )
    }

    return (req) =>
      req.method === "GET"
        ? once(req).pipe(Effect.catchIf(isStaleSocket, () => once(req)))
        : once(req)
  })

const errorAnswer = <A, I>(req: PveRequest<A, I>, status: number, reason: string, text: string): PveError => {
  // Older PVE sends no `message` in the body; the reason phrase then holds the text
  // (`message` came with libpve-http-server-perl 5.2.0).
  const body = Schema.decodeUnknownOption(ErrorBody)(text)
  const message = Option.flatMap(body, (b) => Option.fromNullable(b.message))
  return toPveError({
    method: req.method,
    path: req.path,
    status,
    text: Option.getOrElse(message, () => reason),
    errors: Option.getOrElse(Option.flatMap(body, (b) => Option.fromNullable(b.errors)), () => ({}))
  })
}

type EnvelopeDecoder<A> = (
  text: string
) => Effect.Effect<{ readonly data: A; readonly total?: number | undefined }, ParseResult.ParseError>

/**
 * One compiled envelope decoder per response schema. Building `parseJson(Struct({ data }))` per
 * request gave every request a fresh AST, so Effect's per-AST parser cache never hit and each
 * response recompiled its whole decoder (the bulk of the client's CPU per call).
 */
const envelopeDecoders = new WeakMap<Schema.Schema.All, EnvelopeDecoder<unknown>>()
const envelopeDecoder = <A, I>(data: Schema.Schema<A, I>): EnvelopeDecoder<A> => {
  const cached = envelopeDecoders.get(data)
  if (cached !== undefined) return cached as EnvelopeDecoder<A>
  const decode = Schema.decodeUnknown(Schema.parseJson(Schema.Struct({ data, total: Schema.optional(Schema.Number) })))
  const decoder: EnvelopeDecoder<A> = (text) => decode(text, { errors: "all", onExcessProperty: "ignore" })
  envelopeDecoders.set(data, decoder as EnvelopeDecoder<unknown>)
  return decoder
}

const decodeEnvelope = <A, I>(req: PveRequest<A, I>, text: string): Effect.Effect<PveResponse<A>, PveBadResponse> =>
  envelopeDecoder(req.data)(text).pipe(
    Effect.map(({ data, total }) => ({ data, total })),
    Effect.mapError((error) =>
      new PveBadResponse({
        method: req.method,
        path: req.path,
        issue: ParseResult.ArrayFormatter.formatErrorSync(error)
          .map((issue) => `${issue.path.length > 0 ? issue.path.join(".") + ": " : ""}${issue.message}`)
          .join("; ")
      })
    )
  )
