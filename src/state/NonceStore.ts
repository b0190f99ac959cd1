/**
 * NonceStore: replay protection for signed ops (docs/architecture.md, invariant 6), in the state
 * database.
 * `admit` records an op id and raises the per-agent seq high-water mark in ONE transaction, so
 * of two concurrent admits of the same envelope exactly one succeeds, and a crash never leaves
 * one without the other. Entries are kept until expiry + skew (after that the verifier refuses
 * the op as expired anyway), then purged. The store is bounded: when `capacity` entries are
 * still kept it refuses new ops (fail closed) rather than evict one that could be replayed.
 */
import type { SqlError } from "@effect/sql/SqlError"
import type { ParseResult } from "effect"
import { Clock, Context, Data, Effect, Layer, Schema } from "effect"
import { nonceMigrations } from "./NonceMigrations.js"
import { StateStore } from "./StateStore.js"

/** The op id was admitted before: the op already ran (or is running); it never runs twice. */
export class OpReplayed extends Schema.TaggedError<OpReplayed>()("OpReplayed", {
  opId: Schema.String,
  admittedAt: Schema.Number
}) {
  override get message(): string {
    return `op ${this.opId} was already admitted (at ${new Date(this.admittedAt).toISOString()}); replay refused`
  }
}

/** The op's seq does not exceed the agent's high-water mark: an old or reordered op. */
export class SeqNotIncreasing extends Schema.TaggedError<SeqNotIncreasing>()("SeqNotIncreasing", {
  opId: Schema.String,
  agent: Schema.String,
  seq: Schema.Number,
  highWater: Schema.Number
}) {
  override get message(): string {
    return `op ${this.opId} has seq ${this.seq}, not above agent ${this.agent}'s high-water mark ${this.highWater}`
  }
}

/** Every slot holds an unexpired nonce: refusing is the only safe answer (never evict). */
export class NonceStoreFull extends Schema.TaggedError<NonceStoreFull>()("NonceStoreFull", {
  opId: Schema.String,
  capacity: Schema.Number
}) {
  override get message(): string {
    return `op ${this.opId} refused: the nonce store holds ${this.capacity} unexpired entries (fail closed)`
  }
}

/** SQLite failed or a row no longer decodes; the op is not admitted. */
export class NonceStoreStorageError extends Data.TaggedError("NonceStoreStorageError")<{
  readonly operation: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `nonce store ${this.operation} failed: ${this.reason}`
  }
}

export type AdmitRefused = OpReplayed | SeqNotIncreasing | NonceStoreFull

export interface AdmitInput {
  readonly opId: string
  readonly seq: number
  /** Whose sequence the seq belongs to (the agent id the op is addressed to). */
  readonly agent: string
  /** The op's `exp`, epoch seconds. */
  readonly expiresAt: number
  /** Epoch seconds until which the entry is kept; default expiresAt + the store's skew. */
  readonly keepUntil?: number
}

export interface Admitted {
  readonly opId: string
  readonly seq: number
  readonly agent: string
  /** Epoch milliseconds (Clock). */
  readonly admittedAt: number
  readonly keepUntil: number
}

export interface NonceStoreShape {
  readonly admit: (input: AdmitInput) => Effect.Effect<Admitted, AdmitRefused | NonceStoreStorageError>
  /** Drops entries past keep_until; answers how many. `admit` also purges first. */
  readonly purge: Effect.Effect<number, NonceStoreStorageError>
  /** Entries currently kept (the nonce-store fill metric), and the bound. */
  readonly fill: Effect.Effect<{ readonly entries: number; readonly capacity: number }, NonceStoreStorageError>
  /** The agent's seq high-water mark (0 when none was admitted yet). */
  readonly highWater: (agent: string) => Effect.Effect<number, NonceStoreStorageError>
}

export interface NonceStoreOptions {
  /** Most entries kept at once; default 100_000: twice the ops we expect within one expiry window. */
  readonly capacity?: number
  /** Seconds an entry outlives its exp when the caller gives no keepUntil; default 60. */
  readonly skew?: number
}

export const DEFAULT_CAPACITY = 100_000
export const DEFAULT_SKEW_SECONDS = 60

const Count = Schema.Array(Schema.Struct({ n: Schema.Number }))
const SeenRow = Schema.Array(Schema.Struct({ admitted_at: Schema.Number }))
const HighWaterRow = Schema.Array(Schema.Struct({ high_water: Schema.Number }))

const storage = (operation: string) => (e: SqlError | ParseResult.ParseError) =>
  new NonceStoreStorageError({ operation, reason: e.message, cause: e })

export class NonceStore extends Context.Tag("felhom/NonceStore")<NonceStore, NonceStoreShape>() {
  /** Registers the "nonces" migrations with the StateStore, then serves the verbs. */
  static readonly layer = (
    options: NonceStoreOptions = {}
  ): Layer.Layer<NonceStore, NonceStoreStorageError, StateStore> =>
    Layer.effect(NonceStore, Effect.suspend(() => make(options)))
}

export const make = (options: NonceStoreOptions) =>
  Effect.gen(function*() {
    const capacity = options.capacity ?? DEFAULT_CAPACITY
    const skew = options.skew ?? DEFAULT_SKEW_SECONDS
    const store = yield* StateStore
    const sql = store.sql
    yield* store.migrate("nonces", nonceMigrations).pipe(
      Effect.mapError((e) => new NonceStoreStorageError({ operation: "migrate", reason: e.message, cause: e }))
    )

    const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => Math.floor(ms / 1000))
    const purgeAt = (now: number) =>
      Effect.map(sql`DELETE FROM nonces WHERE keep_until < ${now} RETURNING op_id`, (rows) => rows.length)
    const count = Effect.flatMap(sql`SELECT count(*) AS n FROM nonces`, Schema.decodeUnknown(Count))
      .pipe(Effect.map((rows) => rows[0]?.n ?? 0))
    const highWaterOf = (agent: string) =>
      Effect.flatMap(sql`SELECT high_water FROM nonce_seq WHERE agent = ${agent}`, Schema.decodeUnknown(HighWaterRow))
        .pipe(Effect.map((rows) => rows[0]?.high_water ?? 0))

    // Checks and writes in one transaction; the client runs transactions one at a time on its
    // single connection, so two admits of one op id cannot both see it absent. The PRIMARY KEY
    // on op_id is the second line: a duplicate insert fails the transaction, never succeeds.
    const admit = (input: AdmitInput) =>
      sql.withTransaction(Effect.gen(function*() {
        const nowMs = yield* Clock.currentTimeMillis
        const now = Math.floor(nowMs / 1000)
        yield* purgeAt(now)
        const seen = yield* Effect.flatMap(
          sql`SELECT admitted_at FROM nonces WHERE op_id = ${input.opId}`,
          Schema.decodeUnknown(SeenRow)
        )
        const prior = seen[0]
        if (prior !== undefined) return yield* new OpReplayed({ opId: input.opId, admittedAt: prior.admitted_at })
        const highWater = yield* highWaterOf(input.agent)
        if (input.seq <= highWater) {
          return yield* new SeqNotIncreasing({ opId: input.opId, agent: input.agent, seq: input.seq, highWater })
        }
        if ((yield* count) >= capacity) return yield* new NonceStoreFull({ opId: input.opId, capacity })
        const keepUntil = input.keepUntil ?? input.expiresAt + skew
        yield* sql`INSERT INTO nonces (op_id, agent, seq, expires_at, keep_until, admitted_at)
          VALUES (${input.opId}, ${input.agent}, ${input.seq}, ${input.expiresAt}, ${keepUntil}, ${nowMs})`
        yield* sql`INSERT INTO nonce_seq (agent, high_water, updated_at) VALUES (${input.agent}, ${input.seq}, ${nowMs})
          ON CONFLICT (agent) DO UPDATE SET high_water = excluded.high_water, updated_at = excluded.updated_at`
        return { opId: input.opId, seq: input.seq, agent: input.agent, admittedAt: nowMs, keepUntil }
      })).pipe(
        Effect.catchTags({ SqlError: storage("admit"), ParseError: storage("admit") })
      )

    const purge = Effect.flatMap(nowSeconds, purgeAt).pipe(Effect.catchTag("SqlError", storage("purge")))
    // Entries past keep_until but not yet purged do not count: they are free slots.
    const kept = Effect.flatMap(nowSeconds, (now) => sql`SELECT count(*) AS n FROM nonces WHERE keep_until >= ${now}`)
      .pipe(Effect.flatMap(Schema.decodeUnknown(Count)), Effect.map((rows) => rows[0]?.n ?? 0))
    const fill = Effect.map(kept, (entries) => ({ entries, capacity })).pipe(
      Effect.catchTags({ SqlError: storage("fill"), ParseError: storage("fill") })
    )
    const highWater = (agent: string) =>
      highWaterOf(agent).pipe(Effect.catchTags({ SqlError: storage("highWater"), ParseError: storage("highWater") }))

    return NonceStore.of({ admit, purge, fill, highWater })
  })
