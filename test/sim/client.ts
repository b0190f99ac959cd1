/**
 * Test helper: raw requests to the simulator over node:https trusting the sim's CA, returning
 * status, reason phrase, headers and the parsed (gunzipped) body.
 */
import * as http from "node:http"
import * as https from "node:https"
import { gunzipSync } from "node:zlib"
import { Effect, Redacted } from "effect"
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
      { method: o.method ?? "GET", headers, ...(url.protocol === "https:" ? { ca: sim.caPem } : {}), ...(o.agent ? { agent: o.agent } : {}) },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("end", () => {
          let raw = Buffer.concat(chunks)
          if (res.headers["content-encoding"] === "gzip") raw = gunzipSync(raw)
          let body: unknown = undefined
          if (raw.length > 0) body = JSON.parse(raw.toString("utf8"))
          resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? "", headers: res.headers, raw, body })
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

/** `body.data` of a response, as unknown-shaped record access for assertions. */
export const data = (r: SimResponse): any => (r.body as { data: unknown }).data

/** Polls task status until stopped (no sleeps in assertions: we wait for the state). */
export const waitTask = (sim: RunningSim, upid: string, node = "pve1") =>
  Effect.gen(function*() {
    for (;;) {
      const r = yield* request(sim, `/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`)
      const d = data(r)
      if (d.status === "stopped") return d as { status: string; exitstatus: string; [k: string]: unknown }
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
    return { status: res.status, body: (await res.json()) as any }
  })
