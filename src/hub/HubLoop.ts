/**
 * HubLoop (docs/hub-protocol.md): one pass = fetch desired (If-None-Match) → offer it to HubDesired →
 * fetch ops after the cursor → hand each, in seq order, to `onOp` (the daemon's pipeline:
 * SignedOps.check → gate → engine on the ordered lane) → post a report. Passes repeat every
 * `interval`; after a failed pass the next one waits a jittered exponential backoff. While
 * the hub is away nothing else changes: the provider keeps serving the last good document and
 * the reconciler keeps reconciling it. The loop never verifies ops itself: it only orders
 * them; every op is judged by `onOp`.
 */
import { Clock, Context, Duration, Effect, Either, Layer, Metric, Ref, Schedule, Schema } from "effect"
import { decodeBase64Strict, decodeEnvelope } from "../authz/Envelope.js"
import { parseJsonBytes } from "../authz/verifyEnvelope.js"
import type { StateStore } from "../state/StateStore.js"
import { backoff, type BackoffPolicy, DEFAULT_BACKOFF } from "./backoff.js"
import { HubClient } from "./HubClient.js"
import { HubDesired } from "./HubDesiredProvider.js"
import type { HubError, HubReportInvalid, HubStoreError } from "./HubError.js"
import { makeHubStore } from "./HubStore.js"
import type { OpOutcomeSummary, Refusal, Report, ReportInput } from "./protocol.js"

export type PassError = HubError | HubStoreError | HubReportInvalid

export interface HubLoopOptions {
  readonly agentId: string
  /** Between successful passes; default 30 s. */
  readonly interval?: Duration.DurationInput
  /** Retry delays after failed passes; default 5 s doubling to 5 min, jittered. */
  readonly backoff?: BackoffPolicy
  /** Runs one op envelope through verification, gate and engine; answers what became of it. */
  readonly onOp: (envelope: unknown) => Effect.Effect<OpOutcomeSummary>
  /** What the daemon has to say in each report: observed guests, drift, restart-required, refusals. */
  readonly report: Effect.Effect<ReportInput>
  /** The NonceStore's seq high-water mark (NonceStore.highWater(agentId)), a floor for `after`. */
  readonly highWater?: Effect.Effect<number, unknown>
  /** Op outcomes and refusals kept while reports fail; the oldest are dropped beyond it. */
  readonly maxBuffered?: number
}

export interface HubLoopStatus {
  readonly consecutiveFailures: number
  readonly lastError: string | undefined
  /** Epoch milliseconds of the last pass that fully succeeded. */
  readonly lastSuccessAt: number | undefined
}

export interface HubLoopShape {
  /**
   * One pass; fails with the first error met. After a failed desired fetch the pass stops
   * (the hub is likely away); after failed ops the report is still sent.
   */
  readonly pass: Effect.Effect<void, PassError>
  /** Passes forever, interval or backoff between them; never fails. Fork it in the daemon's scope. */
  readonly run: Effect.Effect<never>
  readonly status: Effect.Effect<HubLoopStatus>
}

export class HubLoop extends Context.Tag("felhom/HubLoop")<HubLoop, HubLoopShape>() {
  static readonly layer = (
    options: HubLoopOptions
  ): Layer.Layer<HubLoop, HubStoreError, HubClient | HubDesired | StateStore> =>
    Layer.effect(HubLoop, Effect.suspend(() => make(options)))

  /** The same, with `run` forked for the lifetime of the layer. */
  static readonly layerStarted = (
    options: HubLoopOptions
  ): Layer.Layer<HubLoop, HubStoreError, HubClient | HubDesired | StateStore> =>
    Layer.scoped(HubLoop, Effect.tap(Effect.suspend(() => make(options)), (loop) => Effect.forkScoped(loop.run)))
}

export const HubLoopMetrics = {
  /** Mirrors `status.consecutiveFailures`, so an alert can tell a hub that stays away from one blip. */
  consecutiveFailures: Metric.gauge("felhom_hub_consecutive_failures", {
    description: "Hub passes failed in a row since the last good one (0 after a good pass)"
  })
} as const

export const DEFAULT_INTERVAL = Duration.seconds(30)
const DEFAULT_MAX_BUFFERED = 1_000

const PeekPayload = Schema.Struct({ seq: Schema.Int })

/**
 * The seq an (as yet unverified) envelope claims, only to order the batch and move the
 * cursor; SignedOps still refuses any seq that does not exceed the high-water mark.
 */
export const peekSeq = (envelope: unknown): number | undefined => {
  const decoded = decodeEnvelope(envelope)
  if (Either.isLeft(decoded)) return undefined
  const bytes = decodeBase64Strict(decoded.right.payload)
  if (Either.isLeft(bytes)) return undefined
  const json = parseJsonBytes(bytes.right)
  if (Either.isLeft(json)) return undefined
  const payload = Schema.decodeUnknownEither(PeekPayload)(json.right)
  return Either.isRight(payload) ? payload.right.seq : undefined
}

/** Known seqs ascending; envelopes without a readable seq last (they will be refused and reported). */
const bySeq = (ops: ReadonlyArray<unknown>) =>
  ops.map((envelope, i) => ({ envelope, seq: peekSeq(envelope), i }))
    .sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity) || a.i - b.i)

interface Pending {
  readonly ops: ReadonlyArray<OpOutcomeSummary>
  readonly refusals: ReadonlyArray<Refusal>
  readonly dropped: number
}

const keepLast = <A>(items: ReadonlyArray<A>, max: number): [ReadonlyArray<A>, number] =>
  items.length > max ? [items.slice(items.length - max), items.length - max] : [items, 0]

export const make = (options: HubLoopOptions) =>
  Effect.gen(function*() {
    const client = yield* HubClient
    const desired = yield* HubDesired
    const store = yield* makeHubStore(options.agentId)
    const interval = Duration.decode(options.interval ?? DEFAULT_INTERVAL)
    const policy = options.backoff ?? DEFAULT_BACKOFF
    const maxBuffered = options.maxBuffered ?? DEFAULT_MAX_BUFFERED
    const cursor = yield* Ref.make(yield* store.loadCursor)
    const pending = yield* Ref.make<Pending>({ ops: [], refusals: [], dropped: 0 })
    const status = yield* Ref.make<HubLoopStatus>({
      consecutiveFailures: 0,
      lastError: undefined,
      lastSuccessAt: undefined
    })
    yield* Metric.set(HubLoopMetrics.consecutiveFailures, 0)

    const remember = (add: Partial<Pick<Pending, "ops" | "refusals">>) =>
      Ref.update(pending, (p) => {
        const [ops, droppedOps] = keepLast([...p.ops, ...(add.ops ?? [])], maxBuffered)
        const [refusals] = keepLast([...p.refusals, ...(add.refusals ?? [])], maxBuffered)
        return { ops, refusals, dropped: p.dropped + droppedOps }
      })

    const syncDesired = Effect.gen(function*() {
      const { etag } = yield* desired.inForce
      const fetched = yield* client.fetchDesired(etag).pipe(
        // 404: the hub holds no document for us. What is in force stays; only a signed
        // document (an empty one, if the hub means "manage nothing") ever replaces it.
        Effect.catchIf((e) => e._tag === "HubRejected" && e.status === 404, () => Effect.succeed(undefined))
      )
      if (fetched === undefined || fetched._tag === "NotModified") return
      yield* desired.offer(fetched.envelopeBytes, fetched.etag).pipe(
        Effect.catchIf(
          (e): e is Exclude<typeof e, HubStoreError> => e._tag !== "HubStoreError",
          (refused) =>
            Effect.flatMap(Clock.currentTimeMillis, (at) =>
              remember({ refusals: [{ tag: refused._tag, message: refused.message, at }] }))
        )
      )
    })

    const syncOps = Effect.gen(function*() {
      const floor = options.highWater === undefined
        ? 0
        : yield* options.highWater.pipe(Effect.orElseSucceed(() =>
          0
        ))
      const after = Math.max(yield* Ref.get(cursor), floor)
      const ops = yield* client.fetchOps(after)
      for (const { envelope, seq } of bySeq(ops)) {
        const outcome = yield* options.onOp(envelope)
        yield* remember({ ops: [outcome] })
        // Undecided (a transient storage failure): stop here; this op and the rest come again.
        if (outcome.result === "deferred") return
        if (seq !== undefined && seq > (yield* Ref.get(cursor))) {
          yield* store.saveCursor(seq)
          yield* Ref.set(cursor, seq)
        }
      }
    })

    const sendReport = Effect.gen(function*() {
      const input = yield* options.report
      const sent = yield* Ref.get(pending)
      const inForce = yield* desired.inForce
      const now = yield* Clock.currentTimeMillis
      const report: Report = {
        version: 1,
        agent: options.agentId,
        time: new Date(now).toISOString(),
        desired: { revision: inForce.accepted?.revision ?? null, source: inForce.source },
        ...(input.scope === undefined ? {} : { scope: input.scope }),
        observed: input.observed,
        drift: input.drift,
        restart_required: input.restart_required,
        refusals: [...input.refusals, ...sent.refusals],
        ops: sent.ops,
        ops_dropped: sent.dropped
      }
      yield* client.postReport(report)
      // Only what this report carried is cleared: outcomes added meanwhile go in the next one.
      yield* Ref.update(pending, (p) => ({
        ops: p.ops.slice(sent.ops.length),
        refusals: p.refusals.slice(sent.refusals.length),
        dropped: 0
      }))
    })

    const pass: Effect.Effect<void, PassError> = Effect.gen(function*() {
      const desiredStep = yield* Effect.either(syncDesired)
      // Without a desired answer the hub is probably away: do not pile ops calls on top.
      const opsStep = Either.isLeft(desiredStep) ? desiredStep : yield* Effect.either(syncOps)
      const reportStep = Either.isLeft(desiredStep) ? desiredStep : yield* Effect.either(sendReport)
      const steps: ReadonlyArray<Either.Either<void, PassError>> = [desiredStep, opsStep, reportStep]
      for (const step of steps) {
        if (Either.isLeft(step)) return yield* Effect.fail(step.left)
      }
    }).pipe(Effect.withSpan("HubLoop.pass"))

    const retryAfterOf = (e: PassError): number | undefined => e._tag === "HubRejected" ? e.retryAfter : undefined

    const succeeded = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Ref.set(status, { consecutiveFailures: 0, lastError: undefined, lastSuccessAt: now }).pipe(
        Effect.zipRight(Metric.set(HubLoopMetrics.consecutiveFailures, 0))
      ))

    const failed = (error: PassError) =>
      Effect.flatMap(
        Ref.updateAndGet(
          status,
          (s) => ({ ...s, consecutiveFailures: s.consecutiveFailures + 1, lastError: error.message })
        ),
        (s) =>
          Metric.set(HubLoopMetrics.consecutiveFailures, s.consecutiveFailures)
      )

    // Outputs the failure with the delay the backoff chose, to say both before the wait.
    const retrying = Schedule.intersect(Schedule.identity<PassError>(), Schedule.delays(backoff(policy, retryAfterOf)))
      .pipe(
        Schedule.tapOutput(([error, delay]) =>
          Effect.flatMap(Ref.get(status), ({ consecutiveFailures }) =>
            Effect.logWarning("hub pass failed; the last good desired state stays in force").pipe(
              Effect.annotateLogs({
                error: error._tag,
                reason: error.message,
                failures: consecutiveFailures,
                retry_in: Duration.format(delay)
              })
            ))
        )
      )

    // A fresh retry per good pass: the backoff starts from `base` again after every success.
    const untilGood: Effect.Effect<"good" | "died"> = pass.pipe(
      Effect.tapError(failed),
      Effect.retry(retrying),
      // The backoff never gives up: no failure gets past the retry.
      Effect.orDie,
      Effect.zipRight(succeeded),
      Effect.as("good" as const),
      // A defect in a handler is a bug, but the loop must outlive it (the daemon keeps running).
      Effect.catchAllDefect((defect) =>
        Effect.as(Effect.logError("hub pass died", defect), "died" as const)
      )
    )

    // `interval` after a good pass; a pass that died waits at least the backoff's base.
    const betweenPasses = Schedule.identity<"good" | "died">().pipe(
      Schedule.zipLeft(Schedule.spaced(interval)),
      Schedule.modifyDelay((outcome, delay) =>
        outcome === "died" ? Duration.max(delay, policy.base) : delay
      )
    )

    // The schedule never ends, so neither does `run`.
    const run: Effect.Effect<never> = Effect.repeat(untilGood, betweenPasses).pipe(Effect.zipRight(Effect.never))

    return HubLoop.of({ pass, run, status: Ref.get(status) })
  })
