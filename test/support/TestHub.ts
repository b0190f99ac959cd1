/**
 * A hub speaking protocol v1 (docs/hub-protocol.md) over HTTP on 127.0.0.1, for tests and the
 * daemon's end-to-end runs: it holds an ed25519 signing key, serves a signed desired document
 * with ETag/304, an op log of signed ops (`after` honoured), records reports, checks the bearer
 * token, and can be told to go down (connections refused, or 503 with Retry-After) or to serve
 * garbage, unsigned or wrongly signed documents.
 */
import { Effect, type Scope } from "effect"
import { createHash } from "node:crypto"
import * as Http from "node:http"
import { encodeBase64, signEnvelope } from "../../src/authz/Envelope.js"
import { encodeOpPayload, OP_PAYLOAD_TYPE, type OpPayload } from "../../src/authz/OpPayload.js"
import { type Capability, type Signer, type Signers, signersOf } from "../../src/authz/Signers.js"
import { DESIRED_PAYLOAD_TYPE } from "../../src/hub/protocol.js"
import { closeServer, listenOn } from "../../src/net/listen.js"
import { makeKey, type TestKey } from "../authz/support.js"

/** A hub signing key: the same ed25519 test key the signed-op tests use. */
export type HubKey = TestKey
export const makeHubKey = makeKey

/** The agent-side signers trusting `key` with `capabilities`. */
export const signersTrusting = (
  key: HubKey,
  capabilities: ReadonlyArray<Capability> = ["desired", "power", "config", "snapshot"]
): Signers =>
  signersOf([{ keyid: key.keyid, publicKey: key.publicKey, capabilities: new Set(capabilities) } satisfies Signer])

export interface DesiredPayloadInput {
  readonly agent: string
  readonly revision: string
  readonly issued_at: number
  readonly expires_at?: number
  readonly document: unknown
}

const utf8 = new TextEncoder()

/** A signed desired envelope as bytes (signed by `key`, or unsigned-looking with `signWith: []`). */
export const signDesired = (
  payload: DesiredPayloadInput,
  keys: ReadonlyArray<HubKey>,
  payloadType = DESIRED_PAYLOAD_TYPE
): Uint8Array => utf8.encode(JSON.stringify(signEnvelope(payloadType, utf8.encode(JSON.stringify(payload)), keys)))

/** Same bytes, no signature at all (`signatures: []`, which the schema refuses). */
export const unsignedDesired = (payload: DesiredPayloadInput): Uint8Array =>
  utf8.encode(JSON.stringify({
    payloadType: DESIRED_PAYLOAD_TYPE,
    payload: encodeBase64(utf8.encode(JSON.stringify(payload))),
    signatures: []
  }))

export interface SeenRequest {
  readonly method: string
  readonly url: string
  readonly headers: Http.IncomingHttpHeaders
}

export type HubMode =
  | { readonly _tag: "Up" }
  | { readonly _tag: "Unavailable"; readonly retryAfter?: number }
  | { readonly _tag: "Refusing" }

export interface TestHub {
  readonly url: string
  readonly key: HubKey
  readonly token: string
  /** Signs and serves a desired document for `agent` (defaults: the hub's agent, issued now). */
  readonly setDesired: (
    document: unknown,
    overrides?: Partial<DesiredPayloadInput>,
    keys?: ReadonlyArray<HubKey>
  ) => void
  /** Serves these exact bytes as the desired document (garbage, unsigned, wrongly signed…). */
  readonly setDesiredRaw: (bytes: Uint8Array) => void
  /** No document: GET desired answers 404. */
  readonly clearDesired: () => void
  /** Signs and appends an op to the log. */
  readonly appendOp: (op: OpPayload, keys?: ReadonlyArray<HubKey>) => void
  /** Appends an arbitrary (e.g. malformed) op envelope with the seq the log files it under. */
  readonly appendRawOp: (seq: number, envelope: unknown) => void
  readonly reports: ReadonlyArray<unknown>
  readonly seen: ReadonlyArray<SeenRequest>
  readonly setMode: (mode: HubMode) => Effect.Effect<void>
}

export interface TestHubOptions {
  readonly agent: string
  readonly token?: string
  /** Epoch seconds used as issued_at by default. */
  readonly now?: () => number
}

const listenAt = (server: Http.Server, port: number) => Effect.orDie(listenOn(server, { host: "127.0.0.1", port }))

export const startTestHub = (options: TestHubOptions): Effect.Effect<TestHub, never, Scope.Scope> =>
  Effect.gen(function*() {
    const key = makeHubKey()
    const token = options.token ?? "hub-test-token-6f1d0c"
    const now = options.now ?? (() => Math.floor(Date.now() / 1000))
    let desired: Uint8Array | undefined
    let mode: HubMode = { _tag: "Up" }
    const ops: Array<{ readonly seq: number; readonly envelope: unknown }> = []
    const reports: Array<unknown> = []
    const seen: Array<SeenRequest> = []
    const base = `/v1/agents/${encodeURIComponent(options.agent)}`

    const etagOf = (bytes: Uint8Array) => `"${createHash("sha256").update(bytes).digest("hex").slice(0, 32)}"`

    const send = (res: Http.ServerResponse, status: number, body?: unknown, headers: Http.OutgoingHttpHeaders = {}) => {
      const text = body === undefined
        ? undefined
        : body instanceof Uint8Array
        ? Buffer.from(body)
        : JSON.stringify(body)
      res.writeHead(status, { ...(text === undefined ? {} : { "content-type": "application/json" }), ...headers })
      res.end(text)
    }

    const handle = (req: Http.IncomingMessage, res: Http.ServerResponse, body: Buffer) => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers })
      if (mode._tag === "Unavailable") {
        const headers = mode.retryAfter === undefined ? {} : { "retry-after": String(mode.retryAfter) }
        return send(res, 503, { error: "hub in maintenance" }, headers)
      }
      if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { error: "bad bearer token" })
      const url = new URL(req.url ?? "/", "http://hub")
      if (req.method === "GET" && url.pathname === `${base}/desired`) {
        if (desired === undefined) return send(res, 404, { error: "no desired state for this agent" })
        const etag = etagOf(desired)
        if (req.headers["if-none-match"] === etag) return send(res, 304, undefined, { etag })
        return send(res, 200, desired, { etag })
      }
      if (req.method === "GET" && url.pathname === `${base}/ops`) {
        const after = Number(url.searchParams.get("after") ?? "0")
        if (!Number.isSafeInteger(after) || after < 0) {
          return send(res, 400, { error: "after must be a non-negative integer" })
        }
        return send(res, 200, { ops: ops.filter((o) => o.seq > after).map((o) => o.envelope) })
      }
      if (req.method === "POST" && url.pathname === `${base}/report`) {
        try {
          reports.push(JSON.parse(body.toString("utf8")))
        } catch {
          return send(res, 400, { error: "report is not JSON" })
        }
        return send(res, 204)
      }
      return send(res, 404, { error: "no such endpoint" })
    }

    const server = Http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => handle(req, res, Buffer.concat(chunks)))
    })
    const port = yield* Effect.acquireRelease(listenAt(server, 0), () => closeServer(server))

    const setMode = (next: HubMode) =>
      Effect.gen(function*() {
        const wasRefusing = mode._tag === "Refusing"
        mode = next
        // Closing the listener makes connects fail with ECONNREFUSED, as a hub that is down.
        if (next._tag === "Refusing" && !wasRefusing) yield* closeServer(server)
        if (next._tag !== "Refusing" && wasRefusing) yield* listenAt(server, port)
      })

    const hub: TestHub = {
      url: `http://127.0.0.1:${port}`,
      key,
      token,
      setDesired: (document, overrides = {}, keys = [key]) => {
        desired = signDesired({ agent: options.agent, revision: "r1", issued_at: now(), document, ...overrides }, keys)
      },
      setDesiredRaw: (bytes) => {
        desired = bytes
      },
      clearDesired: () => {
        desired = undefined
      },
      appendOp: (op, keys = [key]) => {
        ops.push({ seq: op.seq, envelope: signEnvelope(OP_PAYLOAD_TYPE, encodeOpPayload(op), keys) })
      },
      appendRawOp: (seq, envelope) => {
        ops.push({ seq, envelope })
      },
      reports,
      seen,
      setMode
    }
    return hub
  })
