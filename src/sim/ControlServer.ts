/**
 * The control API (plain HTTP JSON, loopback, no auth): the test-side handle on the
 * simulated cluster — mutation log, faults, seeding guests, raw guest state, locks,
 * concurrent edits, HA resources, a guest's own run state (S3 sleep), migrations, reset.
 * Request bodies are decoded with Schema.
 */
import { Either, ParseResult, Schema } from "effect"
import * as http from "node:http"
import type { SimCluster } from "./Cluster.js"
import { SimFaults } from "./Faults.js"

const ConfigValues = Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number) })

export const GuestSeedSchema = Schema.Struct({
  vmid: Schema.Number,
  type: Schema.Literal("qemu", "lxc"),
  node: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Literal("running", "stopped", "paused", "suspended")),
  ha: Schema.optional(Schema.Literal("started", "stopped", "disabled", "ignored")),
  template: Schema.optional(Schema.Boolean),
  config: Schema.optional(ConfigValues),
  snapshots: Schema.optional(
    Schema.Array(
      Schema.Struct({
        name: Schema.String,
        description: Schema.optional(Schema.String),
        snaptime: Schema.optional(Schema.Number),
        vmstate: Schema.optional(Schema.Boolean),
        config: Schema.optional(ConfigValues)
      })
    )
  )
})

const GuestsBody = Schema.Union(Schema.Array(GuestSeedSchema), Schema.Struct({ guests: Schema.Array(GuestSeedSchema) }))
const LockBody = Schema.Struct({ lock: Schema.String })
const HaBody = Schema.Struct({ state: Schema.Literal("started", "stopped", "disabled", "ignored") })
const RunStateBody = Schema.Struct({ state: Schema.Literal("running", "paused", "suspended") })
const EditBody = Schema.Struct({
  set: Schema.optional(ConfigValues),
  delete: Schema.optional(Schema.Array(Schema.String))
})
const MigrateBody = Schema.Struct({ target: Schema.String, afterMs: Schema.optional(Schema.NonNegative) })
const MigrateBeginBody = Schema.Struct({ target: Schema.String })
const MigrateFinishBody = Schema.Struct({ keepLock: Schema.optional(Schema.Boolean) })

interface Answer {
  readonly status: number
  readonly body: unknown
}

const decode = <A, I>(schema: Schema.Schema<A, I>, raw: string): Either.Either<A, Answer> => {
  let json: unknown
  try {
    json = raw === "" ? {} : JSON.parse(raw)
  } catch {
    return Either.left({ status: 400, body: { error: "malformed JSON body" } })
  }
  return Either.mapLeft(Schema.decodeUnknownEither(schema)(json), (e) => ({
    status: 400,
    body: { error: ParseResult.TreeFormatter.formatErrorSync(e) }
  }))
}

const fromEither = <A>(e: Either.Either<A, { readonly message: string }>, okStatus = 200): Answer =>
  Either.match(e, {
    onLeft: (err) => ({ status: 404, body: { error: err.message } }),
    onRight: (a) => ({ status: okStatus, body: a === undefined ? { ok: true } : a })
  })

const route = (cluster: SimCluster, method: string, path: string, raw: string): Answer => {
  if (method === "GET" && path === "/mutations") return { status: 200, body: cluster.mutations() }
  if (method === "GET" && path === "/tasks") return { status: 200, body: cluster.tasks.all }
  if (method === "GET" && path === "/migrations") return { status: 200, body: cluster.activeMigrations() }
  if (method === "POST" && path === "/faults") {
    return Either.match(decode(SimFaults, raw), {
      onLeft: (a) => a,
      onRight: (f) => {
        cluster.setFaults(f)
        return { status: 200, body: { ok: true } }
      }
    })
  }
  if (method === "DELETE" && path === "/faults") {
    cluster.clearFaults()
    return { status: 200, body: { ok: true } }
  }
  if (method === "POST" && path === "/reset") {
    cluster.reset()
    return { status: 200, body: { ok: true } }
  }
  if (method === "POST" && path === "/guests") {
    return Either.match(decode(GuestsBody, raw), {
      onLeft: (a) => a,
      onRight: (b) => fromEither(cluster.addGuests("guests" in b ? b.guests : b), 201)
    })
  }
  const m = /^\/guests\/(\d+)(\/lock|\/edit|\/ha|\/runstate|\/migrate|\/migrate\/begin|\/migrate\/finish)?$/.exec(path)
  if (m !== null) {
    const vmid = Number(m[1])
    if (method === "GET" && m[2] === undefined) return fromEither(cluster.view(vmid))
    if (method === "DELETE" && m[2] === "/lock") return fromEither(cluster.clearLock(vmid))
    if (method === "POST" && m[2] === "/lock") {
      return Either.match(decode(LockBody, raw), {
        onLeft: (a) => a,
        onRight: (b) => fromEither(cluster.setLock(vmid, b.lock))
      })
    }
    if (method === "POST" && m[2] === "/ha") {
      return Either.match(decode(HaBody, raw), {
        onLeft: (a) => a,
        onRight: (b) => fromEither(cluster.setHa(vmid, b.state))
      })
    }
    if (method === "DELETE" && m[2] === "/ha") return fromEither(cluster.setHa(vmid, undefined))
    if (method === "POST" && m[2] === "/runstate") {
      return Either.match(decode(RunStateBody, raw), {
        onLeft: (a) => a,
        onRight: (b) => fromEither(cluster.setRunState(vmid, b.state))
      })
    }
    if (method === "POST" && m[2] === "/migrate") {
      return Either.match(decode(MigrateBody, raw), {
        onLeft: (a) => a,
        onRight: (b) => fromEither(cluster.migrate(vmid, b.target, b.afterMs))
      })
    }
    if (method === "POST" && m[2] === "/migrate/begin") {
      return Either.match(decode(MigrateBeginBody, raw), {
        onLeft: (a) => a,
        onRight: (b) => fromEither(cluster.beginMigration(vmid, b.target))
      })
    }
    if (method === "POST" && m[2] === "/migrate/finish") {
      return Either.match(decode(MigrateFinishBody, raw), {
        onLeft: (a) => a,
        onRight: (b) => fromEither(cluster.finishMigration(vmid, b))
      })
    }
    if (method === "POST" && m[2] === "/edit") {
      return Either.match(decode(EditBody, raw), {
        onLeft: (a) => a,
        onRight: (b) => fromEither(Either.map(cluster.edit(vmid, b), (digest) => ({ digest })))
      })
    }
  }
  return { status: 404, body: { error: `no control route ${method} ${path}` } }
}

export const createControlServer = (cluster: SimCluster): http.Server =>
  http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://control")
      const answer = route(cluster, req.method ?? "GET", url.pathname, Buffer.concat(chunks).toString("utf8"))
      const bytes = Buffer.from(JSON.stringify(answer.body), "utf8")
      res.writeHead(answer.status, { "Content-Type": "application/json", "Content-Length": bytes.length })
      res.end(bytes)
    })
  })
