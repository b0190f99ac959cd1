/**
 * Test helper: raw requests to the simulator over node:https trusting the sim's CA, returning
 * status, reason phrase, headers and the parsed (gunzipped) body.
 */
import { Effect, Redacted, Schema } from "effect"
import * as http from "node:http"
import * as https from "node:https"
import { gunzipSync } from "node:zlib"
import type { RunningSim } from "../../src/sim/Simulator.js"

export interface SimResponse {
  readonly status: number
  readonly statusMessage: string
  readonly headers: http.IncomingHttpHeaders
  readonly raw: Buffer
  readonly body: unknown
}

export interface RequestOptions {
  readonly method?: string
  readonly query?: Record<string, string>
  readonly form?: Record<string, string>
  readonly json?: unknown
  readonly auth?: string | null
  readonly headers?: Record<string, string>
  readonly agent?: http.Agent
}

export const authHeader = (sim: RunningSim): string => `PVEAPIToken=${sim.tokenId}=${Redacted.value(sim.tokenSecret)}`

export const requestPromise = (sim: RunningSim, path: string, o: RequestOptions = {}): Promise<SimResponse> =>
  new Promise((resolve, reject) => {
    const url = new URL(`${sim.url}/api2/json${path}`)
    for (const [k, v] of Object.entries(o.query ?? {})) url.searchParams.set(k, v)
    let payload: Buffer | undefined
    const headers: Record<string, string> = { ...(o.headers ?? {}) }
    if (o.form !== undefined) {
      payload = Buffer.from(new URLSearchParams(o.form).toString())
      headers["content-type"] = "application/x-www-form-urlencoded"
    } else if (o.json !== undefined) {
      payload = Buffer.from(JSON.stringify(o.json))
      headers["content-type"] = "application/json"
    }
    if (payload !== undefined) headers["content-length"] = String(payload.length)
    const auth = o.auth === undefined ? authHeader(sim) : o.auth
    if (auth !== null) headers["authorization"] = auth
    const mod = url.protocol === "https:" ? https : http
    const req = mod.request(
      url,
      {
        method: o.method ?? "GET",
        headers,
        ...(url.protocol === "https:" ? { ca: sim.caPem } : {}),
        ...(o.agent ? { agent: o.agent } : {})
      },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("end", () => {
          let raw = Buffer.concat(chunks)
          if (res.headers["content-encoding"] === "gzip") raw = gunzipSync(raw)
          let body: unknown = undefined
          if (raw.length > 0) body = JSON.parse(raw.toString("utf8"))
          resolve({
            status: res.statusCode ?? 0,
            statusMessage: res.statusMessage ?? "",
            headers: res.headers,
            raw,
            body
          })
        })
        res.on("error", reject)
      }
    )
    req.on("error", reject)
    if (payload !== undefined) req.write(payload)
    req.end()
  })

export const request = (sim: RunningSim, path: string, o: RequestOptions = {}) =>
  Effect.promise(() => requestPromise(sim, path, o))

/** `body.data` of a response, unknown-shaped: compare it whole, or read it through the accessors below. */
export const data = (r: SimResponse): unknown => Schema.decodeUnknownSync(Envelope)(r.body).data

const Envelope = Schema.Struct({ data: Schema.Unknown })
/** A JSON object as the sim sends it; fields are `unknown` until an assertion compares them. */
export const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown })
export type JsonObject = typeof JsonObject.Type
const JsonRows = Schema.Array(JsonObject)

/** `data` that must be an object (a config, a status, a version). */
export const dataObject = (r: SimResponse): JsonObject => Schema.decodeUnknownSync(JsonObject)(data(r))
/** `data` that must be a list of objects (resources, guest lists, tasks, snapshots, pending rows). */
export const dataRows = (r: SimResponse): ReadonlyArray<JsonObject> => Schema.decodeUnknownSync(JsonRows)(data(r))
/** `data` that must be a string: the UPID a task-starting call answers. */
export const dataString = (r: SimResponse): string => Schema.decodeUnknownSync(Schema.String)(data(r))
/** Any other body (the control API's) that must be an object. */
export const asObject = (u: unknown): JsonObject => Schema.decodeUnknownSync(JsonObject)(u)

/** A field that must be a string, for feeding back into a request (a digest, a name). */
export const text = (o: JsonObject, key: string): string => Schema.decodeUnknownSync(Schema.String)(o[key])

/** Row `i` of a list; fails the test with a clear message when the list is shorter. */
export const row = (rows: ReadonlyArray<JsonObject>, i: number): JsonObject => {
  const r = rows.at(i)
  if (r === undefined) throw new Error(`no row ${i} in a list of ${rows.length}`)
  return r
}

/** The first row whose `key` field equals `value`; fails the test when there is none. */
export const rowWhere = (rows: ReadonlyArray<JsonObject>, key: string, value: unknown): JsonObject => {
  const r = rows.find((x) => x[key] === value)
  if (r === undefined) throw new Error(`no row with ${key} = ${JSON.stringify(value)}`)
  return r
}

/**
 * A stopped task's status: `exitstatus` is present once `status` is `stopped` (pve-manager
 * `PVE::API2::Tasks::read_task_status`).
 */
const StoppedTask = Schema.Struct(
  { status: Schema.Literal("stopped"), exitstatus: Schema.String },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)
export type StoppedTask = typeof StoppedTask.Type

/** Polls task status until stopped (no sleeps in assertions: we wait for the state). */
export const waitTask = (sim: RunningSim, upid: string, node = "pve1") =>
  Effect.gen(function*() {
    for (;;) {
      const r = yield* request(sim, `/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`)
      const d = dataObject(r)
      if (d.status === "stopped") return Schema.decodeUnknownSync(StoppedTask)(d)
      // Real timer, not Effect.sleep: it.scoped runs under the TestClock.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
    }
  })

export const control = (sim: RunningSim, method: string, path: string, body?: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`${sim.controlUrl}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } })
    })
    const json: unknown = await res.json()
    return { status: res.status, body: json }
  })
