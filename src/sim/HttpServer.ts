/**
 * The API's HTTP layer on node:http(s) directly, for byte-level control (pve-http-server
 * `PVE::APIServer::AnyEvent`, pve-manager `PVE::HTTPServer`):
 * reason phrase = first line of the error message, `Connection: close` on every status ≥ 400,
 * empty-bodied delayed 401s, gzip above 1024 bytes, keep-alive idle close, and injected
 * faults (latency, 5xx, sockets destroyed before/after a mutation). Over TLS, plain HTTP on the
 * same port gets pveproxy's 301/308 redirect to https (pve-http-server `PVE::APIServer::AnyEvent`).
 */
import * as http from "node:http"
import * as https from "node:https"
import * as net from "node:net"
import { deflateSync, gzipSync } from "node:zlib"
import { parseTokenHeader, type TokenRecord } from "./Access.js"
import { dispatch, isMutating } from "./api/Routes.js"
import type { SimCluster } from "./Cluster.js"
import { paramFromJson, type Params, type ParamValue } from "./Params.js"
import { type Reply } from "./Reply.js"
import type { SimTls } from "./Tls.js"

export interface ApiServerOptions {
  /** The node this listener is: the one GET /cluster/status marks `local`. */
  readonly node: string
  readonly tls: SimTls | undefined
  readonly idleTimeout: number
  readonly authFailureDelay: number
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Node refuses control characters in the reason phrase; PVE's messages are mostly ASCII. */
const reasonPhrase = (message: string): string => (message.split("\n")[0] ?? "").replace(/[^\t\x20-\x7e]/g, "?")

const render = (req: http.IncomingMessage, res: http.ServerResponse, reply: Reply): void => {
  res.setHeader("Server", "pve-api-daemon/3.0")
  res.setHeader("Cache-Control", "max-age=0")
  res.setHeader("Pragma", "no-cache")
  res.setHeader("Expires", new Date().toUTCString())
  if (reply._tag === "AuthFail") {
    res.setHeader("Connection", "close")
    res.writeHead(401, reply.reason)
    res.end()
    return
  }
  let status = 200
  let body: unknown
  if (reply._tag === "Ok") {
    body = reply.total === undefined
      ? { data: reply.data }
      : { data: reply.data, total: reply.total }
  } else {
    status = reply.status
    body = { data: null, message: reply.message, ...(reply.errors === undefined ? {} : { errors: reply.errors }) }
    res.setHeader("Connection", "close")
  }
  let bytes = Buffer.from(JSON.stringify(body), "utf8")
  res.setHeader("Content-Type", "application/json;charset=UTF-8")
  const accept = String(req.headers["accept-encoding"] ?? "")
  if (bytes.length > 1024 && /\bgzip\b/.test(accept)) {
    bytes = gzipSync(bytes)
    res.setHeader("Content-Encoding", "gzip")
  } else if (bytes.length > 1024 && /\bdeflate\b/.test(accept)) {
    bytes = deflateSync(bytes)
    res.setHeader("Content-Encoding", "deflate")
  }
  res.setHeader("Content-Length", bytes.length)
  if (reply._tag === "Ok") res.writeHead(200)
  else res.writeHead(status, reasonPhrase(reply.message))
  res.end(bytes)
}

const fail = (status: number, message: string): Reply => ({ _tag: "Fail", status, message })

const readBody = (req: http.IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => resolve(Buffer.concat(chunks)))
    req.on("error", reject)
  })

const addParam = (into: Params, key: string, value: ParamValue): void => {
  const prev = into[key]
  // Repeated form keys become arrays (pve-http-server `PVE::APIServer::AnyEvent::decode_urlencoded`).
  if (prev === undefined) into[key] = value
  else into[key] = [...(typeof prev === "string" ? [prev] : prev), ...(typeof value === "string" ? [value] : value)]
}

/**
 * Body params (form or JSON), then the query merged over them; `_dc` dropped (pve-http-server
 * `PVE::APIServer::AnyEvent::extract_params`).
 */
const parseParams = (
  req: http.IncomingMessage,
  url: URL,
  body: Buffer
): { readonly params: Params } | { readonly reply: Reply } => {
  const params: Params = {}
  if (body.length > 0) {
    const type = String(req.headers["content-type"] ?? "")
    if (type.includes("application/json")) {
      let json: unknown
      try {
        json = JSON.parse(body.toString("utf8"))
      } catch {
        return { reply: fail(400, "malformed JSON body\n") }
      }
      if (typeof json !== "object" || json === null || Array.isArray(json)) {
        return { reply: fail(400, "JSON body must be an object\n") }
      }
      for (const [k, v] of Object.entries(json)) params[k] = paramFromJson(v)
    } else for (const [k, v] of new URLSearchParams(body.toString("utf8"))) addParam(params, k, v)
  }
  const query: Params = {}
  for (const [k, v] of url.searchParams) addParam(query, k, v)
  Object.assign(params, query)
  delete params["_dc"]
  return { params }
}

const authenticate = (cluster: SimCluster, header: string | undefined): TokenRecord | "none" | "bad" => {
  if (header === undefined || header === "") return "none"
  const parsed = parseTokenHeader(header)
  if (parsed === undefined) return "bad"
  const t = cluster.tokens.get(parsed.tokenid)
  return t !== undefined && t.secret === parsed.secret ? t : "bad"
}

const handle = async (
  cluster: SimCluster,
  opts: ApiServerOptions,
  req: http.IncomingMessage,
  res: http.ServerResponse
): Promise<void> => {
  const method = req.method ?? "GET"
  const url = new URL(req.url ?? "/", "http://sim")
  const body = await readBody(req)
  if (!url.pathname.startsWith("/api2/json/")) return render(req, res, fail(501, "no such uri"))
  const path = url.pathname.slice("/api2/json".length)
  if (req.headers["transfer-encoding"] !== undefined) {
    return render(req, res, fail(501, "chunked transfer not supported"))
  }
  if (
    (method === "GET" || method === "DELETE" || method === "HEAD") && Number(req.headers["content-length"] ?? "0") > 0
  ) {
    return render(req, res, fail(501, `Unexpected content for method '${method}'`))
  }

  const f = cluster.faults
  const hit = f.pathRe === undefined || f.pathRe.test(path)
  if (hit && (f.http.latencyMs ?? 0) > 0) await sleep(f.http.latencyMs ?? 0)
  if (hit && cluster.prng.chance(f.http.errorRate ?? 0)) {
    const status = f.http.errorStatus ?? 500
    return render(req, res, fail(status, `simulated failure (HTTP ${status})\n`))
  }
  const mutating = isMutating(method)
  if (hit && mutating && cluster.prng.chance(f.http.dropBeforeRate ?? 0)) {
    req.socket.destroy()
    return
  }

  const auth = authenticate(cluster, req.headers["authorization"])
  if (auth === "none") return render(req, res, { _tag: "AuthFail", reason: "No ticket" })
  if (auth === "bad") {
    // PVE delays every failed authentication by ~3 s (pve-http-server
    // `PVE::APIServer::AnyEvent::authenticate_and_handle_request`).
    if (opts.authFailureDelay > 0) await sleep(opts.authFailureDelay)
    return render(req, res, { _tag: "AuthFail", reason: "Authentication failed!" })
  }
  const parsed = parseParams(req, url, body)
  if ("reply" in parsed) return render(req, res, parsed.reply)
  const reply = await dispatch(cluster, auth, method, path, parsed.params, opts.node)
  if (hit && mutating && cluster.prng.chance(f.http.dropAfterRate ?? 0)) {
    req.socket.destroy()
    return
  }
  if (hit && mutating && cluster.prng.chance(f.http.errorAfterRate ?? 0)) {
    const status = f.http.errorStatus ?? 500
    return render(req, res, fail(status, `simulated failure after applying (HTTP ${status})\n`))
  }
  render(req, res, reply)
}

/**
 * Where pveproxy sends a plain-HTTP request: the same host and port, over https (pve-http-server
 * `PVE::APIServer::AnyEvent`).
 */
const redirectTarget = (req: http.IncomingMessage): string => {
  const local = req.socket.localAddress ?? "127.0.0.1"
  const host = req.headers.host ?? `${local.includes(":") ? `[${local}]` : local}:${req.socket.localPort ?? 8006}`
  return `https://${host}${req.url ?? "/"}`
}

/** Answers plain HTTP on the TLS port: 301 for GET/HEAD, 308 (method-preserving) otherwise. */
const redirectListener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
  const method = req.method ?? "GET"
  const status = method === "GET" || method === "HEAD" ? 301 : 308
  req.resume()
  res.setHeader("Server", "pve-api-daemon/3.0")
  res.setHeader("Location", redirectTarget(req))
  res.setHeader("Connection", "close")
  res.setHeader("Content-Length", 0)
  res.writeHead(status)
  res.end()
}

/** The listening side of the API: a plain http server, or the TLS/plain-HTTP sniffing front. */
export interface ApiServer {
  readonly server: net.Server
  readonly closeAllConnections: () => void
}

/** First byte of a TLS record carrying a handshake (ClientHello). */
const TLS_HANDSHAKE = 0x16

/**
 * pveproxy serves TLS and answers plain HTTP with a redirect on the same port 8006. Node cannot
 * do both in one server, so a `net.Server` peeks at the first byte of every connection and
 * hands the socket (with that byte pushed back) to the https server or to a redirecting http
 * server. TLSSocket replays bytes already buffered on the raw socket, so nothing is lost.
 */
const sniffingFront = (tlsServer: https.Server, plain: http.Server, sockets: Set<net.Socket>): net.Server =>
  net.createServer((socket) => {
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
    socket.once("error", () => socket.destroy())
    socket.once("readable", () => {
      const first: Buffer | null = socket.read()
      if (first === null) {
        socket.destroy()
        return
      }
      socket.unshift(first)
      ;(first[0] === TLS_HANDSHAKE ? tlsServer : plain).emit("connection", socket)
    })
  })

export const createApiServer = (cluster: SimCluster, opts: ApiServerOptions): ApiServer => {
  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(cluster, opts, req, res).catch((e: unknown) => {
      if (!res.headersSent) render(req, res, fail(500, `internal simulator error: ${String(e)}\n`))
    })
  }
  if (opts.tls === undefined) {
    const server = http.createServer(listener)
    // pveproxy closes idle keep-alive connections after 5 s (pve-http-server `PVE::APIServer::AnyEvent::new`).
    server.keepAliveTimeout = opts.idleTimeout
    return { server, closeAllConnections: () => server.closeAllConnections() }
  }
  const tlsServer = https.createServer({ key: opts.tls.keyPem, cert: `${opts.tls.certPem}${opts.tls.caPem}` }, listener)
  tlsServer.keepAliveTimeout = opts.idleTimeout
  const plain = http.createServer(redirectListener)
  // Raw sockets, including those still waiting for their first byte, so close() can finish.
  const sockets = new Set<net.Socket>()
  return {
    server: sniffingFront(tlsServer, plain, sockets),
    closeAllConnections: () => {
      tlsServer.closeAllConnections()
      plain.closeAllConnections()
      for (const s of sockets) s.destroy()
    }
  }
}
