/**
 * Tracing: OpenTelemetry spans sent over OTLP/HTTP (JSON), only when `telemetry.otlpEndpoint`
 * is set. Off, no tracer is installed and the tracer is disabled for the whole daemon, so every
 * `Effect.withSpan` is Effect's no-op span: no ids drawn, nothing buffered, no trace ids in logs.
 *
 * The exporter is @effect/opentelemetry's own OtlpTracer, which batches spans and posts them
 * with an Effect HttpClient: no OpenTelemetry SDK runs in the process. Its requests are made
 * with tracing off (no spans about exporting spans), a failing collector disables export for a
 * minute instead of piling up, and closing the layer flushes what is buffered (bounded by
 * `shutdownTimeout`), so a pass that ended just before SIGTERM still arrives. It lives in
 * OtlpTracing.ts, loaded only when an endpoint is set: a daemon without one never loads it.
 */
import { type Duration, Effect, FiberRef, Layer } from "effect"
import type { Settings } from "../config/settings.js"

export interface TracingOptions {
  /** How often buffered spans are sent; default 5 s (OtlpTracer's). */
  readonly exportInterval?: Duration.DurationInput
}

/** `<base>/v1/traces`, the OTLP/HTTP path, whether or not the base ends with a slash. */
export const tracesUrl = (endpoint: string): string =>
  new URL("v1/traces", endpoint.endsWith("/") ? endpoint : `${endpoint}/`).href

export const tracingLayer = (settings: Settings, options: TracingOptions = {}): Layer.Layer<never> => {
  const endpoint = settings.telemetry.otlpEndpoint
  if (endpoint === undefined) return Layer.locallyScoped(FiberRef.currentTracerEnabled, false)
  return Layer.unwrapEffect(
    Effect.map(Effect.promise(() => import("./OtlpTracing.js")), (m) => m.otlpTracingLayer(endpoint, settings, options))
  )
}
