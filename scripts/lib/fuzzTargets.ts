/**
 * Fuzz targets shared by scripts/fuzz.ts (long run) and test/evidence/fuzz.test.ts (short run):
 * signed envelopes, desired-state documents, config documents and PVE responses. Each target is
 * a fast-check property over `FastCheck` from effect. A case passes when the code under test
 * either accepts it or rejects it with a typed error that names the problem (a tag and a
 * non-empty message, with a path where the decoder gives one); a thrown exception or a defect is
 * a crash. For envelopes, an accepted envelope is a forgery unless its verified bytes and type
 * are exactly what the trusted key signed.
 */
import { Cause, Context, Effect, Either, Exit, FastCheck as fc, Layer, Redacted, Schema } from "effect"
import { generateKeyPairSync, type KeyObject } from "node:crypto"
import { encodeBase64, keyIdOf, signEnvelope } from "../../src/authz/Envelope.js"
import { encodeOpPayload, OP_PAYLOAD_TYPE, type OpPayload } from "../../src/authz/OpPayload.js"
import { signersOf } from "../../src/authz/Signers.js"
import { verifyAt } from "../../src/authz/Verifier.js"
import { decodeSettings } from "../../src/config/AgentConfig.js"
import { ClusterGuest, GuestStatus } from "../../src/domain/Cluster.js"
import { DesiredState } from "../../src/domain/DesiredState.js"
import { GuestRef } from "../../src/domain/Guest.js"
import { GuestConfigResponse, PendingEntry } from "../../src/domain/GuestConfig.js"
import { TaskListEntry, TaskStatus } from "../../src/domain/Task.js"
import { makeVmid } from "../../src/domain/Vmid.js"
import { listen } from "../../src/net/listen.js"
import { Pve } from "../../src/pve/Pve.js"
import { makeConnectionSettings, PveConnection } from "../../src/pve/PveConnection.js"

export interface TargetReport {
  readonly target: string
  readonly cases: number
  readonly accepted: number
  readonly rejected: number
  /** Rejections per error tag (or decoder), to show the failures are typed and varied. */
  readonly byTag: Readonly<Record<string, number>>
  /** Exceptions, defects, untyped or unnamed rejections, accepted forgeries: must be empty. */
  readonly problems: ReadonlyArray<string>
  /** Known, reported defects of the error text (typed, but a part of it is unreadable), by kind. */
  readonly findings: Readonly<Record<string, number>>
}

const tally = (target: string) => {
  let cases = 0
  let accepted = 0
  let rejected = 0
  const byTag: Record<string, number> = {}
  const problems: Array<string> = []
  const findings: Record<string, number> = {}
  return {
    finding: (kind: string, tag: string) => {
      cases++
      rejected++
      byTag[tag] = (byTag[tag] ?? 0) + 1
      findings[kind] = (findings[kind] ?? 0) + 1
    },
    accept: () => {
      cases++
      accepted++
    },
    reject: (tag: string) => {
      cases++
      rejected++
      byTag[tag] = (byTag[tag] ?? 0) + 1
    },
    problem: (what: string) => {
      cases++
      if (problems.length < 20) problems.push(what)
    },
    report: (): TargetReport => ({ target, cases, accepted, rejected, byTag, problems, findings })
  }
}

const short = (value: unknown): string => {
  try {
    const text = JSON.stringify(value)
    return text === undefined ? String(value) : text.length > 200 ? `${text.slice(0, 200)}…` : text
  } catch {
    return String(value)
  }
}

/** A rejection must carry a tag and a message that says something. */
const named = (e: { readonly _tag?: unknown; readonly message?: unknown }): boolean =>
  typeof e._tag === "string" && e._tag.length > 0 && typeof e.message === "string" && e.message.trim().length > 0

// ---- signed envelopes --------------------------------------------------------------------------

const NOW = 1_750_000_000
const AGENT = "agent-fuzz"

interface Key {
  readonly keyid: string
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
}
const makeKey = (): Key => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519")
  return { keyid: keyIdOf(publicKey), privateKey, publicKey }
}

const baseOp = (overrides: Partial<OpPayload> = {}): OpPayload => ({
  op_id: "op-fuzz-1",
  iss: "hub.example",
  aud: AGENT,
  target: { vmid: makeVmid(101) },
  iat: NOW - 10,
  exp: NOW + 300,
  seq: 1,
  action: { kind: "start" },
  ...overrides
})

interface Rnd {
  readonly nextInt: (min: number, max: number) => number
}
/** xorshift32 from the case's seed: mutations stay reproducible from fast-check's seed. */
const rndOf = (seed: number): Rnd => {
  let x = seed | 0 || 0x9e3779b9
  return {
    nextInt: (min, max) => {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      return min + ((x >>> 0) % (max - min + 1))
    }
  }
}
type Mutation = (
  env: { payloadType: string; payload: string; signatures: Array<{ keyid: string; sig: string }> },
  rnd: Rnd
) => unknown

const flipBase64 = (text: string, rnd: Rnd): string => {
  const bytes = Buffer.from(text, "base64")
  if (bytes.length === 0) return "AA=="
  const i = rnd.nextInt(0, bytes.length - 1)
  bytes[i] = (bytes[i] ?? 0) ^ (1 << rnd.nextInt(0, 7))
  return bytes.toString("base64")
}

/** Ways an attacker could alter a validly signed envelope; each must be refused. */
const mutations = (trusted: Key, attacker: Key): ReadonlyArray<readonly [string, Mutation]> => [
  ["flip a payload bit", (e, r) => ({ ...e, payload: flipBase64(e.payload, r) })],
  [
    "flip a signature bit",
    (e, r) => ({ ...e, signatures: e.signatures.map((s) => ({ ...s, sig: flipBase64(s.sig, r) })) })
  ],
  ["change payloadType", (e, r) => ({ ...e, payloadType: e.payloadType + String.fromCharCode(r.nextInt(32, 126)) })],
  ["payload re-encoded non-canonically", (e) => ({ ...e, payload: e.payload.replace(/=+$/, "") })],
  ["claim the trusted keyid for an attacker signature", (_env, r) => {
    const op = baseOp({ seq: r.nextInt(2, 1000), action: { kind: "stop" } })
    const forged = signEnvelope(OP_PAYLOAD_TYPE, encodeOpPayload(op), [attacker])
    return { ...forged, signatures: forged.signatures.map((s) => ({ ...s, keyid: trusted.keyid })) }
  }],
  [
    "attacker-signed op under its own keyid",
    (_env, r) => signEnvelope(OP_PAYLOAD_TYPE, encodeOpPayload(baseOp({ seq: r.nextInt(2, 1000) })), [attacker])
  ],
  ["swap in another payload, keep the signature", (e, r) => ({
    ...e,
    payload: encodeBase64(encodeOpPayload(baseOp({ seq: r.nextInt(2, 1000), action: { kind: "stop" } })))
  })],
  [
    "append bytes to the payload",
    (e, r) => ({
      ...e,
      payload: encodeBase64(Buffer.concat([Buffer.from(e.payload, "base64"), Buffer.from([r.nextInt(0, 255)])]))
    })
  ],
  [
    "truncate the signature",
    (e) => ({
      ...e,
      signatures: e.signatures.map((s) => ({ ...s, sig: encodeBase64(Buffer.from(s.sig, "base64").subarray(0, 63)) }))
    })
  ],
  ["duplicate signature entries with an attacker one first", (e) => ({
    ...e,
    signatures: [{ keyid: trusted.keyid, sig: encodeBase64(Buffer.alloc(64, 7)) }, ...e.signatures]
  })],
  ["extra top-level field", (e) => ({ ...e, extra: "x" })],
  ["signature list emptied", (e) => ({ ...e, signatures: [] })]
]

export const fuzzEnvelopes = (numRuns: number, seed?: number): TargetReport => {
  const t = tally("signed envelopes")
  const trusted = makeKey()
  const attacker = makeKey()
  const options = {
    agentId: AGENT,
    signers: signersOf([{
      keyid: trusted.keyid,
      publicKey: trusted.publicKey,
      capabilities: new Set(["power", "config", "snapshot", "irreversible", "desired"] as const)
    }])
  }
  const payload = encodeOpPayload(baseOp())
  const valid = signEnvelope(OP_PAYLOAD_TYPE, payload, [trusted])
  const genuine = Buffer.from(payload).toString("base64")
  const check = (input: unknown, label: string): void => {
    let result: ReturnType<typeof verifyAt>
    try {
      result = verifyAt(input, options, NOW)
    } catch (e) {
      return t.problem(`${label}: threw ${String(e)} on ${short(input)}`)
    }
    if (Either.isRight(result)) {
      const ok = Buffer.from(result.right.payloadBytes).toString("base64") === genuine &&
        result.right.payloadType === OP_PAYLOAD_TYPE
      return ok ? t.accept() : t.problem(`${label}: FORGERY accepted ${short(input)}`)
    }
    return named(result.left)
      ? t.reject(result.left._tag)
      : t.problem(`${label}: unnamed rejection ${short(result.left)}`)
  }
  check(valid, "the genuine envelope")
  const muts = mutations(trusted, attacker)
  const third = Math.max(1, Math.floor(numRuns / 3))
  // Mutated valid envelopes.
  fc.assert(
    fc.property(fc.nat(muts.length - 1), fc.integer(), (index, seedInt) => {
      const mut = muts[index]
      if (mut === undefined) return
      check(mut[1](structuredClone({ ...valid, signatures: [...valid.signatures] }), rndOf(seedInt)), mut[0])
    }),
    { numRuns: third, ...(seed === undefined ? {} : { seed }) }
  )
  // Envelope-shaped records with arbitrary fields.
  const b64 = fc.uint8Array({ maxLength: 96 }).map((b) => Buffer.from(b).toString("base64"))
  fc.assert(
    fc.property(
      fc.record({
        payloadType: fc.oneof(fc.constant(OP_PAYLOAD_TYPE), fc.string()),
        payload: fc.oneof(b64, fc.string(), fc.constant(valid.payload)),
        signatures: fc.array(
          fc.record({ keyid: fc.oneof(fc.constant(trusted.keyid), fc.string()), sig: fc.oneof(b64, fc.string()) }),
          { maxLength: 10 }
        )
      }, { requiredKeys: [] }),
      (env) => check(env, "random envelope")
    ),
    { numRuns: third, ...(seed === undefined ? {} : { seed }) }
  )
  // Anything at all, including JSON text.
  fc.assert(fc.property(fc.oneof(fc.anything(), fc.json(), fc.string()), (v) => check(v, "arbitrary value")), {
    numRuns: numRuns - 2 * third,
    ...(seed === undefined ? {} : { seed })
  })
  return t.report()
}

// ---- Schema-decoded documents ------------------------------------------------------------------

const decodeTarget = <A, I>(
  name: string,
  schema: Schema.Schema<A, I>,
  arb: fc.Arbitrary<unknown>,
  numRuns: number,
  seed?: number
): TargetReport => {
  const t = tally(name)
  const decode = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "error" })
  fc.assert(
    fc.property(arb, (input) => {
      try {
        const result = decode(input)
        if (Either.isRight(result)) return t.accept()
        const message = result.left.message
        return message.trim().length > 0 ? t.reject("ParseError") : t.problem(`unnamed rejection of ${short(input)}`)
      } catch (e) {
        t.problem(`threw ${String(e)} on ${short(input)}`)
      }
    }),
    { numRuns, ...(seed === undefined ? {} : { seed }) }
  )
  return t.report()
}

const configValue = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.anything())
const vmidKey = fc.oneof(
  fc.integer({ min: 100, max: 999_999_999 }).map(String),
  fc.string(),
  fc.constantFrom("0", "99", "1e3", "100 ", "0100")
)
const configKey = fc.oneof(
  fc.constantFrom("name", "memory", "cores", "tags", "description", "onboot", "digest", "lock", "net0", "Name", "9x"),
  fc.string()
)

export const desiredDocuments = fc.oneof(
  fc.record({
    revision: fc.oneof(fc.string(), fc.integer()),
    guests: fc.dictionary(
      vmidKey,
      fc.record({
        power: fc.oneof(fc.constantFrom("running", "stopped", "paused"), fc.anything()),
        config: fc.dictionary(configKey, configValue, { maxKeys: 6 })
      }, { requiredKeys: [] }),
      { maxKeys: 5 }
    )
  }, { requiredKeys: [] }),
  fc.anything(),
  fc.json().map((j) => {
    try {
      return JSON.parse(j) as unknown
    } catch {
      return j
    }
  })
)

export const fuzzDesired = (numRuns: number, seed?: number): TargetReport =>
  decodeTarget("desired-state documents", DesiredState, desiredDocuments, numRuns, seed)

const durationText = fc.oneof(
  fc.constantFrom("30s", "5m", "1h", "10 seconds", "0s", "-1s", "1x", ""),
  fc.string(),
  fc.integer()
)
export const settingsDocuments = fc.oneof(
  fc.record({
    agentId: fc.oneof(fc.constant("agent-1"), fc.string()),
    stateDir: fc.string(),
    pve: fc.record({
      url: fc.oneof(fc.constant("https://pve.example:8006"), fc.string()),
      fingerprint: fc.oneof(fc.constant("AA:".repeat(31) + "AA"), fc.string()),
      caFile: fc.string(),
      insecureHttp: fc.oneof(fc.boolean(), fc.anything()),
      requestTimeout: durationText,
      concurrency: fc.oneof(fc.integer(), fc.double(), fc.string())
    }, { requiredKeys: [] }),
    desired: fc.record({
      source: fc.oneof(fc.constantFrom("empty", "file", "hub"), fc.string()),
      file: fc.string(),
      pollInterval: durationText
    }, { requiredKeys: [] }),
    hub: fc.record({ url: fc.string(), tokenFile: fc.string(), pollInterval: durationText }, { requiredKeys: [] }),
    reconcile: fc.record({
      interval: durationText,
      concurrency: fc.oneof(fc.integer(), fc.string()),
      taskDeadline: durationText
    }, { requiredKeys: [] }),
    signedOps: fc.record({ skew: durationText, nonceCapacity: fc.integer() }, { requiredKeys: [] }),
    gate: fc.record({ allowKeys: fc.array(fc.string(), { maxLength: 4 }), safetySnapshot: fc.anything() }, {
      requiredKeys: []
    }),
    health: fc.record({
      listen: fc.oneof(fc.constantFrom("127.0.0.1:9105", ":9105", "[::1]:80", "host:99999"), fc.string())
    }, { requiredKeys: [] }),
    log: fc.record({ format: fc.string(), level: fc.constantFrom("debug", "info", "trace") }, { requiredKeys: [] }),
    shutdownGrace: durationText,
    unknownKey: fc.anything()
  }, { requiredKeys: [] }),
  fc.anything()
)

export const fuzzSettings = (numRuns: number, seed?: number): TargetReport => {
  const t = tally("config documents (decodeSettings)")
  fc.assert(
    fc.property(settingsDocuments, (input) => {
      let exit: Exit.Exit<
        unknown,
        {
          readonly _tag: string
          readonly message: string
          readonly issues: ReadonlyArray<{ readonly path: string; readonly message: string }>
        }
      >
      try {
        exit = Effect.runSyncExit(decodeSettings(input, "fuzz"))
      } catch (e) {
        return t.problem(`threw ${String(e)} on ${short(input)}`)
      }
      if (Exit.isSuccess(exit)) return t.accept()
      const failure = Cause.failureOption(exit.cause)
      if (failure._tag === "None") {
        return t.problem(`defect ${Cause.pretty(exit.cause).slice(0, 300)} on ${short(input)}`)
      }
      const e = failure.value
      const issuesNamed = e.issues.length > 0 && e.issues.every((i) => i.message.trim().length > 0)
      if (!named(e) || !issuesNamed) return t.problem(`unnamed rejection ${short(e)} of ${short(input)}`)
      // Reported bug: a key that is the empty string is shown with an empty path ("": is unexpected),
      // AgentConfig.ts decodeSettings joins the path with "." and never quotes it.
      if (e.issues.some((i) => i.path.length === 0)) {
        return t.finding("issue with an empty path (an empty-string key)", e._tag)
      }
      return t.reject(e._tag)
    }),
    { numRuns, ...(seed === undefined ? {} : { seed }) }
  )
  return t.report()
}

// ---- PVE responses -----------------------------------------------------------------------------

/** The response schemas, wrapped in PVE's `{"data": …}` envelope as PveHttp decodes them. */
const RESPONSE_SCHEMAS = [
  ["cluster/resources", Schema.Array(ClusterGuest)],
  ["status/current", GuestStatus],
  ["config", GuestConfigResponse],
  ["pending", Schema.Array(PendingEntry)],
  ["task status", TaskStatus],
  ["task list", Schema.Array(TaskListEntry)]
] as const

const pveValue = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null))
const responseBody = fc.oneof(
  fc.record({
    data: fc.oneof(
      fc.anything(),
      fc.array(
        fc.dictionary(
          fc.constantFrom(
            "vmid",
            "node",
            "type",
            "status",
            "id",
            "upid",
            "digest",
            "key",
            "value",
            "pending",
            "delete",
            "exitstatus",
            "pid",
            "starttime",
            "user",
            "name"
          ),
          pveValue
        )
      ),
      fc.dictionary(fc.string(), pveValue)
    )
  }, { requiredKeys: [] }),
  fc.json(),
  fc.string()
)

export const fuzzPveDecoders = (numRuns: number, seed?: number): TargetReport => {
  const t = tally("PVE response decoders")
  const decoders = RESPONSE_SCHEMAS.map(([name, schema]) =>
    [
      name,
      Schema.decodeUnknownEither(
        Schema.parseJson(
          Schema.Struct({ data: schema as Schema.Schema<unknown, unknown>, total: Schema.optional(Schema.Number) })
        ),
        { errors: "all", onExcessProperty: "ignore" }
      )
    ] as const
  )
  fc.assert(
    fc.property(fc.nat(decoders.length - 1), responseBody, (index, body) => {
      const entry = decoders[index]
      if (entry === undefined) return
      const text = typeof body === "string" ? body : JSON.stringify(body)
      try {
        const result = entry[1](text)
        if (Either.isRight(result)) return t.accept()
        return result.left.message.trim().length > 0
          ? t.reject(`ParseError ${entry[0]}`)
          : t.problem(`unnamed rejection of ${short(text)}`)
      } catch (e) {
        t.problem(`${entry[0]}: threw ${String(e)} on ${short(text)}`)
      }
    }),
    { numRuns, ...(seed === undefined ? {} : { seed }) }
  )
  return t.report()
}

/**
 * The real client (Pve.layer over undici) against a raw server answering random statuses,
 * headers and bodies: every call must end in a typed PveError or a decoded value.
 */
export const fuzzPveClient = (numRuns: number, seed?: number): Promise<TargetReport> => {
  const t = tally("PVE client vs random HTTP answers")
  const answers = fc.record({
    status: fc.oneof(
      fc.constantFrom(200, 200, 200, 400, 401, 403, 404, 500, 501, 595, 596),
      fc.integer({ min: 100, max: 599 })
    ),
    body: responseBody.map((b) => (typeof b === "string" ? b : JSON.stringify(b))),
    gzip: fc.boolean(),
    corruptGzip: fc.boolean(),
    reason: fc.oneof(fc.constant(""), fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/g, ""))),
    destroy: fc.nat(20)
  })
  const samples = fc.sample(answers, { numRuns, ...(seed === undefined ? {} : { seed }) })
  return Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const Http = yield* Effect.promise(() => import("node:http"))
    const Zlib = yield* Effect.promise(() => import("node:zlib"))
    let current = samples[0]
    const server = Http.createServer((req, res) => {
      req.resume()
      req.on("end", () => {
        const a = current
        if (a === undefined || a.destroy === 0) return void req.socket.destroy()
        const status = a.status === 101 || a.status < 200 ? 200 : a.status
        const raw = Buffer.from(a.body)
        const body = a.gzip
          ? (a.corruptGzip
            ? Buffer.concat([Zlib.gzipSync(raw).subarray(0, 12), Buffer.from("junk")])
            : Zlib.gzipSync(raw))
          : raw
        const headers: Record<string, string> = { "content-type": "application/json" }
        if (a.gzip) headers["content-encoding"] = "gzip"
        try {
          res.writeHead(status, a.reason === "" ? undefined : a.reason, headers)
        } catch {
          res.writeHead(status, headers)
        }
        res.end(body)
      })
    })
    const port = yield* Effect.orDie(listen(server, { host: "127.0.0.1", port: 0 }))
    const settings = yield* Effect.orDie(makeConnectionSettings({
      url: `http://127.0.0.1:${port}`,
      token: { tokenId: "fuzz@pve!t", secret: Redacted.make("00000000-0000-0000-0000-000000000000") },
      requestTimeout: "2 seconds"
    }))
    // Built in this scope: Effect.provide would close the client right after the lookup.
    const pve = Context.get(
      yield* Layer.build(Pve.layer.pipe(Layer.provide(Layer.succeed(PveConnection, settings)))),
      Pve
    )
    const ref = Schema.decodeUnknownSync(GuestRef)({ vmid: 100, node: "pve1", type: "qemu" })
    const calls: ReadonlyArray<
      readonly [string, Effect.Effect<unknown, { readonly _tag: string; readonly message: string }>]
    > = [
      ["guests", pve.guests],
      ["status", pve.status(ref)],
      ["config", pve.config(ref)],
      ["pending", pve.pending(ref)],
      ["power", pve.power(ref, "start")],
      ["tasks", pve.tasks("pve1")]
    ]
    for (let i = 0; i < samples.length; i++) {
      current = samples[i]
      const call = calls[i % calls.length]
      if (call === undefined) continue
      const exit = yield* Effect.exit(call[1])
      if (Exit.isSuccess(exit)) {
        t.accept()
        continue
      }
      const failure = Cause.failureOption(exit.cause)
      if (failure._tag === "None") {
        t.problem(`${call[0]}: defect ${Cause.pretty(exit.cause).slice(0, 300)} for ${short(current)}`)
      } else if (named(failure.value)) t.reject(failure.value._tag)
      else t.problem(`${call[0]}: unnamed error ${short(failure.value)}`)
    }
    return t.report()
  })))
}
