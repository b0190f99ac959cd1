/**
 * The `Hub` desired-state provider (docs/architecture.md, "A reconcile pass"): serves the last good
 * verified document from the hub, kept in state.db so it survives a restart. At start the
 * stored envelope is re-verified with the current signers (a retired signer retires its
 * documents) and served until the hub answers; with none, the Empty document is served, so
 * nothing is mutated (invariant 7). A document that does not verify is refused with its typed
 * error, logged and counted, and the last good one stays in force. `changes` fires only when
 * a new revision is accepted.
 */
import { Clock, Context, Effect, Either, Layer, Metric, PubSub, type Queue, Ref, type Scope, Stream } from "effect"
import type { Signers } from "../authz/Signers.js"
import { type DesiredState, emptyDesiredState } from "../domain/DesiredState.js"
import { DesiredProvider } from "../reconcile/DesiredProvider.js"
import type { StateStore } from "../state/StateStore.js"
import { type AcceptedDesired, type DesiredRefused, verifyDesired } from "./HubDesired.js"
import type { HubStoreError } from "./HubError.js"
import { makeHubStore } from "./HubStore.js"

export interface HubDesiredOptions {
  readonly agentId: string
  readonly signers: Signers
  /** Seconds of tolerated clock difference with the hub; default 60. */
  readonly skew?: number
}

export type DesiredSource = "hub" | "stored" | "none"

export interface InForce {
  readonly accepted: AcceptedDesired | undefined
  readonly etag: string | undefined
  readonly source: DesiredSource
}

export type OfferResult = "accepted" | "unchanged"

export interface HubDesiredShape {
  readonly current: Effect.Effect<DesiredState>
  readonly changes: Stream.Stream<void>
  /** The same events as `changes`, subscribed now (no event between this call and a read is lost). */
  readonly subscribe: Effect.Effect<Queue.Dequeue<void>, never, Scope.Scope>
  /** What is in force, where it came from, and the ETag to send as If-None-Match. */
  readonly inForce: Effect.Effect<InForce>
  /**
   * Verifies fetched envelope bytes; on success stores them (durably, before serving) and
   * serves them. A refusal leaves everything as it was and answers the typed error.
   */
  readonly offer: (
    envelopeBytes: Uint8Array,
    etag: string | undefined
  ) => Effect.Effect<OfferResult, DesiredRefused | HubStoreError>
}

export class HubDesired extends Context.Tag("felhom/HubDesired")<HubDesired, HubDesiredShape>() {}

/** Refused desired documents, by error tag (exported with the daemon's other metrics). */
export const desiredRefusedTotal = Metric.counter("felhom_hub_desired_refused_total", {
  description: "desired-state documents from the hub that failed verification"
})
export const desiredAcceptedTotal = Metric.counter("felhom_hub_desired_accepted_total", {
  description: "desired-state revisions from the hub accepted"
})

const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => Math.floor(ms / 1000))

export const make = (options: HubDesiredOptions) =>
  Effect.gen(function*() {
    const store = yield* makeHubStore(options.agentId)
    const stored = yield* store.loadDesired
    const initial: InForce = yield* restore(options, stored)
    const state = yield* Ref.make<InForce>(initial)
    const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<void>(), PubSub.shutdown)
    // Two offers at once must not both pass the rollback check against the same last good.
    const lock = yield* Effect.makeSemaphore(1)

    const offer = (envelopeBytes: Uint8Array, etag: string | undefined) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const before = yield* Ref.get(state)
        const now = yield* nowSeconds
        const last = before.accepted
        const verified = verifyDesired(envelopeBytes, {
          agentId: options.agentId,
          signers: options.signers,
          skew: options.skew,
          now,
          checkExpiry: true,
          lastGood: last === undefined ? undefined : { revision: last.revision, issuedAt: last.issuedAt }
        })
        if (Either.isLeft(verified)) {
          const error = verified.left
          yield* Metric.increment(Metric.tagged(desiredRefusedTotal, "reason", error._tag))
          yield* Effect.logError("desired state from the hub refused; the last good document stays in force").pipe(
            Effect.annotateLogs({ refusal: error._tag, reason: error.message, in_force: last?.revision ?? "none" })
          )
          return yield* Effect.fail(error)
        }
        const accepted = verified.right
        const same = last !== undefined && last.revision === accepted.revision && last.issuedAt === accepted.issuedAt
        yield* store.saveDesired({
          envelope: envelopeBytes,
          revision: accepted.revision,
          issuedAt: accepted.issuedAt,
          etag
        })
        yield* Ref.set(state, { accepted, etag, source: "hub" })
        if (same) return "unchanged" as const
        yield* Metric.increment(desiredAcceptedTotal)
        yield* Effect.logInfo("desired state from the hub accepted").pipe(
          Effect.annotateLogs({
            revision: accepted.revision,
            signer: accepted.keyid,
            previous: last?.revision ?? "none"
          })
        )
        yield* PubSub.publish(pubsub, undefined)
        return "accepted" as const
      }))

    const shape: HubDesiredShape = {
      current: Effect.map(Ref.get(state), (s) => s.accepted?.document ?? emptyDesiredState),
      changes: Stream.fromPubSub(pubsub),
      subscribe: PubSub.subscribe(pubsub),
      inForce: Ref.get(state),
      offer
    }
    return shape
  })

/** The stored last good document, re-verified now; anything wrong serves Empty instead. */
const restore = (
  options: HubDesiredOptions,
  stored: { readonly envelope: Uint8Array; readonly etag: string | undefined } | undefined
) =>
  Effect.gen(function*() {
    if (stored === undefined) return { accepted: undefined, etag: undefined, source: "none" } satisfies InForce
    const verified = verifyDesired(stored.envelope, {
      agentId: options.agentId,
      signers: options.signers,
      skew: options.skew,
      now: yield* nowSeconds,
      checkExpiry: false
    })
    if (Either.isLeft(verified)) {
      yield* Metric.increment(Metric.tagged(desiredRefusedTotal, "reason", verified.left._tag))
      yield* Effect.logWarning(
        "stored desired state no longer verifies; serving the empty document until the hub answers"
      ).pipe(
        Effect.annotateLogs({ refusal: verified.left._tag, reason: verified.left.message })
      )
      return { accepted: undefined, etag: undefined, source: "none" } satisfies InForce
    }
    yield* Effect.logInfo("serving the stored desired state until the hub answers").pipe(
      Effect.annotateLogs({ revision: verified.right.revision })
    )
    return { accepted: verified.right, etag: stored.etag, source: "stored" } satisfies InForce
  })

export const HubDesiredProvider = {
  /**
   * The HubDesired service (what the HubLoop offers fetched documents to) and the
   * DesiredProvider the reconciler reads, over one state.
   */
  layer: (options: HubDesiredOptions): Layer.Layer<HubDesired | DesiredProvider, HubStoreError, StateStore> => {
    const hub = Layer.scoped(HubDesired, Effect.suspend(() => make(options)))
    const provider = Layer.effect(
      DesiredProvider,
      Effect.map(HubDesired, (h) => DesiredProvider.of({ current: h.current, changes: h.changes }))
    )
    return Layer.provideMerge(provider, hub)
  }
}
