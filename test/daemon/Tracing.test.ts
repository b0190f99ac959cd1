/**
 * Traces end to end: the daemon in this process (support/cliInProcess.ts), as `main` runs it, against the simulator,
 * exporting to an OTLP/HTTP receiver in this test process. The receiver decodes the JSON it is
 * sent with Schema, so the assertions are about what a collector would actually store: one
 * trace per reconcile pass, its plan, the engine op, the queue wait, the PVE requests and the
 * task wait, with the ids an operator searches by. Without an endpoint nothing is sent.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, ParseResult, Schema } from "effect"
import * as http from "node:http"
import * as path from "node:path"
import { makeVmid } from "../../src/domain/Vmid.js"
import { listen } from "../../src/net/listen.js"
import { envelopeJson, makeKey, opFor } from "../authz/support.js"
import { SEEDS } from "../reconcile/EngineSupport.js"
import { runCliInProcess as runCli, startDaemonInProcess } from "../support/cliInProcess.js"
import {
  AGENT_ID,
  connectionFlags,
  freePort,
  health,
  journalOps,
  metricValue,
  pollUntil,
  tempDir,
  writeDaemonConfig,
  writeFile
} from "../support/daemon.js"
import { Sim } from "../support/sim.js"

// The subset of OTLP's JSON encoding (ExportTraceServiceRequest) these tests read.
const AnyValue = Schema.Struct({
  stringValue: Schema.optional(Schema.String),
  intValue: Schema.optional(Schema.Union(Schema.Number, Schema.String)),
  doubleValue: Schema.optional(Schema.Number),
  boolValue: Schema.optional(Schema.Boolean)
})
const KeyValue = Schema.Struct({ key: Schema.String, value: AnyValue })
const OtlpSpan = Schema.Struct({
  traceId: Schema.String,
  spanId: Schema.String,
  parentSpanId: Schema.optional(Schema.String),
  name: Schema.String,
  attributes: Schema.Array(KeyValue)
})
const ExportTraceServiceRequest = Schema.Struct({
  resourceSpans: Schema.Array(Schema.Struct({
    resource: Schema.Struct({ attributes: Schema.Array(KeyValue) }),
    scopeSpans: Schema.Array(Schema.Struct({ spans: Schema.Array(OtlpSpan) }))
  }))
})
const decodeExport = Schema.decodeUnknownEither(Schema.parseJson(ExportTraceServiceRequest))

type Attributes = Readonly<Record<string, string>>
interface ReceivedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly name: string
  readonly attributes: Attributes
  readonly resource: Attributes
}

const flatten = (kvs: ReadonlyArray<typeof KeyValue.Type>): Attributes =>
  Object.fromEntries(
    kvs.map((
      { key, value }
    ) => [key, String(value.stringValue ?? value.intValue ?? value.doubleValue ?? value.boolValue ?? "")])
  )

interface Receiver {
  readonly url: string
  readonly spans: () => ReadonlyArray<ReceivedSpan>
  /** Every request that arrived, whatever its path or body. */
  readonly requests: () => number
  /** Bodies that did not decode as OTLP JSON, with why: a test fails on any. */
  readonly rejected: () => ReadonlyArray<string>
}

/** An OTLP/HTTP receiver on a free loopback port: POST /v1/traces with a JSON body. */
const otlpReceiver = Effect.suspend(() => {
  const spans: Array<ReceivedSpan> = []
  const rejected: Array<string> = []
  let requests = 0
  const server = http.createServer((req, res) => {
    requests += 1
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8")
      if (
        req.method !== "POST" || req.url !== "/v1/traces" ||
        !(req.headers["content-type"] ?? "").startsWith("application/json")
      ) {
        rejected.push(`${req.method} ${req.url} ${req.headers["content-type"]}`)
        res.writeHead(404).end()
        return
      }
      Either.match(decodeExport(body), {
        onLeft: (e) => {
          rejected.push(ParseResult.TreeFormatter.formatErrorSync(e))
          res.writeHead(400).end()
        },
        onRight: (request) => {
          for (const rs of request.resourceSpans) {
            const resource = flatten(rs.resource.attributes)
            for (const ss of rs.scopeSpans) {
              for (const s of ss.spans) {
                spans.push({
                  traceId: s.traceId,
                  spanId: s.spanId,
                  parentSpanId: s.parentSpanId,
                  name: s.name,
                  attributes: flatten(s.attributes),
                  resource
                })
              }
            }
          }
          res.writeHead(200, { "content-type": "application/json" }).end("{}")
        }
      })
    })
  })
  return Effect.map(Effect.orDie(listen(server, { host: "127.0.0.1", port: 0 })), (port): Receiver => ({
    url: `http://127.0.0.1:${port}`,
    spans: () => spans,
    requests: () => requests,
    rejected: () => rejected
  }))
})

/** The spans of the first pass trace whose engine op started guest `vmid`. */
const passTraceFor = (receiver: Receiver, vmid: number): ReadonlyArray<ReceivedSpan> => {
  const all = receiver.spans()
  const op = all.find((s) =>
    s.name === "engine.op" && s.attributes["vmid"] === String(vmid) && s.attributes["upid"] !== undefined
  )
  if (op === undefined) return []
  const trace = all.filter((s) => s.traceId === op.traceId)
  return trace.some((s) => s.name === "reconcile.pass") && trace.some((s) => s.name === "pve.task.wait") ? trace : []
}

const passCount = (port: number) =>
  Effect.map(
    health(port, "/metrics"),
    (a) => a.status === 200 ? metricValue(a.body, "felhom_reconcile_pass_seconds_count") ?? 0 : -1
  )

/** A desired file asking guest 102 (stopped in SEEDS) to run: one Start per daemon. */
const startingGuest102 = (extra: Record<string, unknown>) =>
  Effect.gen(function*() {
    const sim = yield* Sim
    const dir = yield* tempDir("felhom-tracing-")
    const port = yield* freePort
    const desired = path.join(dir, "desired.yaml")
    yield* writeFile(desired, "guests:\n  \"102\":\n    power: running\n")
    const env = yield* writeDaemonConfig(dir, sim, port, {
      desired: { source: "file", file: desired, pollInterval: "200ms" },
      ...extra
    })
    return { env, port }
  })

describe("daemon: traces over OTLP/HTTP", () => {
  it.scopedLive(
    "a reconcile pass is one trace: plan, engine op, queue wait, PVE requests and task wait, with ids",
    () =>
      Effect.gen(function*() {
        const receiver = yield* otlpReceiver
        const { env } = yield* startingGuest102({ telemetry: { otlpEndpoint: receiver.url } })
        const daemon = yield* startDaemonInProcess(env.configFile)
        const trace = yield* pollUntil(
          "a pass trace with the Start of guest 102",
          Effect.sync(() => passTraceFor(receiver, 102)),
          (t) => t.length > 0,
          {
            timeout: "40 seconds",
            every: "250 millis",
            context: () =>
              `${daemon.output()}\nreceived: ${receiver.spans().map((s) => s.name).join(",")}\nrejected: ${
                receiver.rejected().join("\n")
              }`
          }
        )
        expect(receiver.rejected()).toEqual([])

        const named = (name: string) => trace.filter((s) => s.name === name)
        const one = (name: string): ReceivedSpan => {
          const found = named(name)
          expect(found, `spans named ${name}`).toHaveLength(1)
          return found[0] as ReceivedSpan
        }
        const pass = one("reconcile.pass")
        const op = one("engine.op")
        const wait = one("pve.task.wait")
        expect(pass.parentSpanId ?? "").toBe("")
        expect(one("reconcile.plan").parentSpanId).toBe(pass.spanId)
        expect(one("reconcile.plan").attributes["actions"]).toBe("1")
        expect(op.parentSpanId).toBe(pass.spanId)
        expect(op.attributes).toMatchObject({ vmid: "102", action: "Start", "op.origin": "planned" })
        expect(op.attributes["op.id"]).toMatch(/\S/)
        expect(op.attributes["upid"]).toMatch(/^UPID:/)
        expect(one("queue.wait")).toMatchObject({ parentSpanId: op.spanId, attributes: { vmid: "102" } })
        // The job runs on a queue worker fiber; its spans must still hang under the op.
        expect(wait.parentSpanId).toBe(op.spanId)
        expect(wait.attributes["upid"]).toBe(op.attributes["upid"])
        const requests = named("pve.request")
        const start = requests.find((r) => r.attributes["http.request.method"] === "POST")
        expect(start?.attributes["pve.endpoint"]).toBe("/nodes/{node}/qemu/{vmid}/status/start")
        expect(start?.parentSpanId).toBe(op.spanId)
        // Task polls are requests under the wait, templated (no UPID in the endpoint).
        expect(requests.filter((r) => r.parentSpanId === wait.spanId).map((r) => r.attributes["pve.endpoint"]))
          .toContain("/nodes/{node}/tasks/{upid}/status")
        expect(requests.every((r) => !(r.attributes["pve.endpoint"] ?? "").includes("UPID:"))).toBe(true)
        expect(pass.resource).toMatchObject({ "service.name": "felhom-agent", "service.instance.id": AGENT_ID })

        // The pass's own log line carries its trace id.
        yield* pollUntil(
          "the pass's log line with its trace id",
          Effect.sync(daemon.output),
          (out) => out.includes(`trace_id=${pass.traceId}`),
          {
            context: daemon.output
          }
        )
        expect((yield* daemon.stop).code).toBe(0)
        expect(receiver.rejected()).toEqual([])
      }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))),
    60_000
  )

  it.scopedLive(
    "a signed op is its own trace: signed_op.submit over its engine op and PVE requests, with the op id",
    () =>
      Effect.gen(function*() {
        const receiver = yield* otlpReceiver
        const sim = yield* Sim
        const dir = yield* tempDir("felhom-tracing-signed-")
        const port = yield* freePort
        const key = makeKey()
        const signersFile = path.join(dir, "signers.json")
        yield* writeFile(
          signersFile,
          JSON.stringify({
            signers: [{
              keyid: key.keyid,
              publicKey: String(key.publicKey.export({ format: "pem", type: "spki" })),
              capabilities: ["power"]
            }]
          })
        )
        const env = yield* writeDaemonConfig(dir, sim, port, { signersFile, telemetry: { otlpEndpoint: receiver.url } })
        const daemon = yield* startDaemonInProcess(env.configFile)
        yield* pollUntil("the daemon ready", health(port, "/readyz"), (a) => a.status === 200, {
          context: daemon.output
        })
        const now = Math.floor(Date.now() / 1000)
        const op = opFor({
          op_id: "traced-op-1",
          aud: AGENT_ID,
          target: { vmid: makeVmid(102) },
          iat: now - 5,
          exp: now + 300,
          seq: 1
        })
        const envelope = path.join(dir, "op.json")
        yield* writeFile(envelope, envelopeJson(key, op))
        // Through the daemon's control socket, as an operator would while the daemon runs.
        const submitted = yield* runCli(
          [
            "op",
            "submit",
            envelope,
            "--state-dir",
            env.stateDir,
            ...connectionFlags(sim, path.join(dir, "pve-token"))
          ]
        )
        expect(submitted.code, submitted.stderr).toBe(0)
        const trace = yield* pollUntil(
          "the signed op's trace",
          Effect.sync(() => {
            const root = receiver.spans().find((s) =>
              s.name === "signed_op.submit" && s.attributes["op.id"] === "traced-op-1"
            )
            return root === undefined ? [] : receiver.spans().filter((s) => s.traceId === root.traceId)
          }),
          (t) => t.some((s) => s.name === "pve.task.wait"),
          { timeout: "40 seconds", every: "250 millis", context: daemon.output }
        )
        const root = trace.find((s) => s.name === "signed_op.submit")
        expect(root?.parentSpanId ?? "").toBe("")
        expect(root?.attributes).toMatchObject({ "op.id": "traced-op-1", vmid: "102", action: "start" })
        const engineOp = trace.find((s) => s.name === "engine.op")
        expect(engineOp).toMatchObject({
          parentSpanId: root?.spanId,
          attributes: { "op.id": "traced-op-1", "op.origin": "signed", vmid: "102" }
        })
        expect(
          trace.find((s) =>
            s.name === "pve.request" && s.attributes["pve.endpoint"] === "/nodes/{node}/qemu/{vmid}/status/start"
          )?.parentSpanId
        )
          .toBe(engineOp?.spanId)
        expect(receiver.rejected()).toEqual([])
        expect((yield* daemon.stop).code).toBe(0)
      }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))),
    90_000
  )

  it.scopedLive(
    "no endpoint configured: the same work sends nothing and logs no trace ids",
    () =>
      Effect.gen(function*() {
        const receiver = yield* otlpReceiver
        // The receiver listens where an exporter using OTLP's default environment would look,
        // so only the settings decide.
        const { env, port } = yield* startingGuest102({})
        const daemon = yield* startDaemonInProcess(env.configFile, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url })
        yield* pollUntil("the Start of guest 102 done", journalOps(env.stateDir), (ops) =>
          ops.some((o) =>
            o.vmid === 102 && o.phase === "done"
          ), {
          timeout: "40 seconds",
          context: daemon.output
        })
        const passes = yield* passCount(port)
        yield* pollUntil("two more passes", passCount(port), (n) =>
          n >= passes + 2, { context: daemon.output })
        expect((yield* daemon.stop).code).toBe(0)
        expect(receiver.requests()).toBe(0)
        expect(daemon.output()).not.toMatch(/trace_id|span_id/)
      }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))),
    60_000
  )
})
