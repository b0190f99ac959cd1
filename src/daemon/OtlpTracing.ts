/**
 * The OTLP/HTTP span exporter of Tracing.ts: @effect/opentelemetry's OtlpTracer with JSON
 * serialization. A module of its own, loaded by tracingLayer only when telemetry.otlpEndpoint
 * is set, so a daemon without one never loads @effect/opentelemetry.
 */
import { OtlpSerialization, OtlpTracer } from "@effect/opentelemetry"
import { NodeHttpClient } from "@effect/platform-node"
import { Layer } from "effect"
import type { Settings } from "../config/settings.js"
import { tracesUrl, type TracingOptions } from "./Tracing.js"

export const otlpTracingLayer = (endpoint: string, settings: Settings, options: TracingOptions): Layer.Layer<never> =>
  OtlpTracer.layer({
    url: tracesUrl(endpoint),
    resource: {
      serviceName: settings.telemetry.serviceName,
      attributes: { "service.instance.id": settings.agentId, "felhom.agent.id": settings.agentId }
    },
    ...(options.exportInterval === undefined ? {} : { exportInterval: options.exportInterval })
  }).pipe(
    Layer.provide(OtlpSerialization.layerJson),
    // Its own connection pool: the PVE client's dispatcher is pinned to PVE's certificate.
    Layer.provide(NodeHttpClient.layerUndici)
  )
