/**
 * What PVE answered, read: the body decompressed as pveproxy sent it, an error answer as the
 * typed `PveError` it means, a success as its `{"data": …}` envelope decoded with the request's
 * schema (compiled once per schema). PveHttp.ts does the exchange; this file only reads.
 */
import { Effect, Either, Option, ParseResult, Schema } from "effect"
import * as Zlib from "node:zlib"
import { toPveError } from "./errorMapping.js"
import { PveBadResponse, type PveError } from "./PveError.js"
import type { PveRequest, PveResponse } from "./PveHttp.js"

export const causeMessage = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/**
 * pveproxy compresses bodies over 1 KiB when asked (pve-http-server
 * `PVE::APIServer::AnyEvent::response`); undici hands them over as they came.
 */
export const bodyText = (
  method: string,
  path: string,
  encoding: string,
  chunks: ReadonlyArray<Buffer>
): Effect.Effect<string, PveBadResponse> =>
  Effect.try({
    try: () => {
      const bytes = chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks)
      const plain = encoding === "gzip"
        ? Zlib.gunzipSync(bytes)
        : encoding === "deflate"
        ? Zlib.inflateSync(bytes)
        : bytes
      return plain.toString("utf8")
    },
    catch: (cause) => new PveBadResponse({ method, path, issue: `undecodable compressed body: ${causeMessage(cause)}` })
  })

const ErrorBody = Schema.parseJson(Schema.Struct({
  message: Schema.optional(Schema.String),
  errors: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
}))

export const errorAnswer = <A, I>(req: PveRequest<A, I>, status: number, reason: string, text: string): PveError => {
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
  json: unknown
) => Either.Either<{ readonly data: A; readonly total?: number | undefined }, ParseResult.ParseError>

/**
 * One compiled envelope decoder per response schema and shape, built on first use. A fresh
 * `Struct({ data })` per request would be a fresh AST, which misses Effect's per-AST parser
 * cache and recompiles the whole decoder each time. `total` is decoded only where the request
 * expects it (task log and list); other envelopes are read for `data` alone. Decoding is
 * synchronous (`decodeUnknownEither`): PVE's schemas have no effectful part, and the Effect
 * variant costs a fiber step per request for nothing.
 */
const envelopeDecoders = new WeakMap<Schema.Schema.All, EnvelopeDecoder<unknown>>()
const totalEnvelopeDecoders = new WeakMap<Schema.Schema.All, EnvelopeDecoder<unknown>>()
const envelopeDecoder = <A, I>(data: Schema.Schema<A, I>, withTotal: boolean): EnvelopeDecoder<A> => {
  const cache = withTotal ? totalEnvelopeDecoders : envelopeDecoders
  const cached = cache.get(data)
  if (cached !== undefined) return cached as EnvelopeDecoder<A>
  const envelope = withTotal
    ? Schema.Struct({ data, total: Schema.optional(Schema.Number) })
    : Schema.Struct({ data })
  const decoder: EnvelopeDecoder<A> = Schema.decodeUnknownEither(envelope, {
    errors: "all",
    onExcessProperty: "ignore"
  })
  cache.set(data, decoder as EnvelopeDecoder<unknown>)
  return decoder
}

export const decodeEnvelope = <A, I>(
  req: PveRequest<A, I>,
  text: string
): Effect.Effect<PveResponse<A>, PveBadResponse> =>
  Either.match(
    Either.flatMap(
      Either.try({ try: (): unknown => JSON.parse(text), catch: (cause) => causeMessage(cause) }),
      (json) => Either.mapLeft(envelopeDecoder(req.data, req.withTotal === true)(json), formatIssues)
    ),
    {
      onLeft: (issue) => Effect.fail(new PveBadResponse({ method: req.method, path: req.path, issue })),
      onRight: ({ data, total }) => Effect.succeed({ data, total })
    }
  )

const formatIssues = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join(".") + ": " : ""}${issue.message}`)
    .join("; ")
