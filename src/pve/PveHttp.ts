/**
 * One PVE request, start to finish: bounded concurrency (pveproxy serves 3 at a time), the
 * token header, a deadline, the `{"data": …}` envelope decoded with Schema, and every failure
 * turned into a typed `PveError`. Reads retry once on a stale keep-alive socket (pveproxy closes
 * idle ones after 5 s); mutations are sent exactly once and never retried here. Reading the
 * answer (decompressing, error bodies, the envelope) is PveAnswer.ts.
 */
import type { Schema } from "effect"
import {
  Clock,
  Context,
  DefaultServices,
  Duration,
  Effect,
  Exit,
  type Fiber,
  FiberRef,
  Queue,
  type Scope,
  Tracer
} from "effect"
import type { Dispatcher } from "undici"
import { endpointTemplate, recordPveRequestAt } from "../domain/Metrics.js"
import { bodyText, causeMessage, decodeEnvelope, errorAnswer } from "./PveAnswer.js"
import type { PveConnectionSettings } from "./PveConnection.js"
import type { PveBadResponse } from "./PveError.js"
import { type PveError, PveTimeout, PveTransport } from "./PveError.js"
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

const toTransport = (method: string, path: string, cause: unknown): PveTransport => {
  const code = errorCode(cause)
  const reason = code !== undefined ? `${code}: ${causeMessage(cause)}` : causeMessage(cause)
  return new PveTransport({ method, path, code, requestSent: code === undefined || !NOT_SENT_CODES.has(code), reason })
}

const isStaleSocket = (error: PveError): boolean =>
  error._tag === "PveTransport" && error.code !== undefined && STALE_SOCKET_CODES.has(error.code)

const headerText = (value: string | ReadonlyArray<string> | undefined): string =>
  typeof value === "string" ? value : value?.[0] ?? ""

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

/** The longest delay `setTimeout` takes (a signed 32-bit count of milliseconds). */
const MAX_TIMER_MILLIS = 2 ** 31 - 1

/** What came back: the status line and the body, decompressed, as text. */
interface Answer {
  readonly status: number
  readonly reason: string
  readonly text: string
}

/**
 * Effect's own tracer (`DefaultServices.liveServices`): its spans are kept by nothing and sent
 * nowhere, so a request's span is built only when another tracer is installed (the OTLP exporter
 * of daemon/Tracing.ts) and tracing is on for the fiber.
 */
const builtInTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)
const spansWanted = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  fiber.getFiberRef(FiberRef.currentTracerEnabled) && fiber.currentTracer !== builtInTracer &&
  fiber.currentSpan?.sampled !== false

export const makeSend = (
  settings: PveConnectionSettings,
  dispatcher: Dispatcher,
  serverClock: ServerClock
): Effect.Effect<Send, never, Scope.Scope> =>
  Effect.gen(function*() {
    const withPermit = yield* makePermits(settings.concurrency)
    const origin = settings.url.origin
    const base = `${origin}/api2/json`
    const headers = {
      authorization: authorizationHeader(settings.token),
      "accept-encoding": "gzip, deflate",
      accept: "application/json"
    }
    const formHeaders = { ...headers, "content-type": "application/x-www-form-urlencoded" }
    const timeoutMillis = Duration.toMillis(settings.requestTimeout)

    /**
     * One exchange on undici's dispatcher, with a handler of our own: no stream per body, no
     * HttpClient request/response objects, one callback per event. undici's `request()` API and
     * @effect/platform's HttpClient over it (each answer a Readable, an AbortController, a
     * FinalizationRegistry entry, a cached body effect run through `Effect.runSync`) were most of
     * the client's CPU per request. The deadline covers the whole exchange, body included, and
     * aborts the request when it passes; so does interruption. It is one wall-clock timer, like
     * undici's own timeouts, rather than `Effect.timeoutFail`, whose race (effect `timeoutTo`,
     * `raceFibersWith`) forks two fibers per request; so a TestClock does not move it.
     */
    const exchange = (
      method: PveRequest<unknown, unknown>["method"],
      path: string,
      target: string,
      body: string | undefined,
      clock: Clock.Clock
    ): Effect.Effect<Answer, PveTransport | PveTimeout | PveBadResponse> =>
      Effect.async((resume) => {
        let controller: Dispatcher.DispatchController | undefined
        let finished = false
        let status = 0
        let reason = ""
        let encoding = ""
        let chunks: Array<Buffer> = []
        const abort = (why: Error) => {
          if (controller !== undefined && !controller.aborted) controller.abort(why)
        }
        const finish = (effect: Effect.Effect<Answer, PveTransport | PveTimeout | PveBadResponse>) => {
          if (finished) return
          finished = true
          clearTimeout(timer)
          resume(effect)
        }
        // Beyond a timer's range node would fire at once; Effect's clock never fires then (effect
        // `Clock` `globalClockScheduler.unsafeSchedule`), and neither does this deadline.
        const timer = timeoutMillis > MAX_TIMER_MILLIS ? undefined : setTimeout(() => {
          // Settled first: undici reports the abort to the handler synchronously, as a transport error.
          finish(Effect.fail(new PveTimeout({ operation: `${method} ${path}`, afterMillis: timeoutMillis })))
          abort(new Error(`no answer within ${timeoutMillis} ms`))
        }, timeoutMillis)
        const handler: Dispatcher.DispatchHandler = {
          onRequestStart: (c) => {
            controller = c
            // Interrupted or timed out while undici still queued it: never send it.
            if (finished) c.abort(new Error("request abandoned"))
          },
          onResponseStart: (_c, statusCode, responseHeaders, statusMessage) => {
            status = statusCode
            // Older PVE puts an error's text only in the status line (before libpve-http-server-perl
            // 5.2.0, `PVE::APIServer::Formatter::Standard::prepare_response_data`).
            reason = statusMessage ?? ""
            encoding = headerText(responseHeaders["content-encoding"]).trim().toLowerCase()
            chunks = []
            serverClock.observe(headerText(responseHeaders["date"]) || undefined, clock.unsafeCurrentTimeMillis())
          },
          onResponseData: (_c, chunk) => {
            chunks.push(chunk)
          },
          onResponseEnd: () =>
            finish(Effect.map(bodyText(method, path, encoding, chunks), (text) => ({ status, reason, text }))),
          onResponseError: (_c, error) => finish(Effect.fail(toTransport(method, path, error)))
        }
        dispatcher.dispatch(
          { origin, path: target, method, headers: body === undefined ? headers : formHeaders, body },
          handler
        )
        return Effect.sync(() => {
          if (finished) return
          finished = true
          clearTimeout(timer)
          abort(new Error("request interrupted"))
        })
      })

    const once = <A, I>(req: PveRequest<A, I>): Effect.Effect<PveResponse<A>, PveError> =>
      Effect.withFiberRuntime((fiber) => {
        // Computed once per request, for the metric and the span: a bounded label, never the path.
        const endpoint = endpointTemplate(req.path)
        const params = new URLSearchParams(encodeParams(req.params ?? {})).toString()
        const url = new URL(base + req.path)
        // GET/DELETE carry parameters in the query; a body there is a 501 (pve-http-server
        // `PVE::APIServer::AnyEvent::authenticate_and_handle_request`).
        const inQuery = req.method === "GET" || req.method === "DELETE"
        const target = url.pathname + url.search +
          (inQuery && params !== "" ? `${url.search === "" ? "?" : "&"}${params}` : "")
        const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
        const traced = spansWanted(fiber)
        // Latency by endpoint template and status, per attempt (a retried read counts twice).
        const timed = Effect.suspend(() => {
          const started = clock.unsafeCurrentTimeMillis()
          return Effect.onExit(
            exchange(req.method, req.path, target, inQuery ? undefined : params, clock),
            (exit) => {
              if (Exit.isInterrupted(exit)) return Effect.void
              const status = Exit.isSuccess(exit) ? exit.value.status : "error"
              const recorded = recordPveRequestAt(
                req.method,
                endpoint,
                status,
                (clock.unsafeCurrentTimeMillis() - started) / 1000
              )
              return traced && status !== "error"
                ? Effect.zipRight(recorded, Effect.annotateCurrentSpan("http.response.status_code", status))
                : recorded
            }
          )
        })
        const sent = Effect.flatMap(
          withPermit(timed),
          ({ reason, status, text }) =>
            status >= 400 ? Effect.fail(errorAnswer(req, status, reason, text)) : decodeEnvelope(req, text)
        )
        return traced
          ? Effect.withSpan(sent, "pve.request", {
            kind: "client",
            // No stack capture: an Error per request, for a trace line nobody reads.
            captureStackTrace: false,
            attributes: { "http.request.method": req.method, "pve.endpoint": endpoint }
          })
          : sent
      })

    return (req) =>
      req.method === "GET"
        ? once(req).pipe(Effect.catchIf(isStaleSocket, () => once(req)))
        : once(req)
  })
