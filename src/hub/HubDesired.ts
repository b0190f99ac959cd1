/**
 * Verification of a hub's desired-state document (docs/architecture.md, invariant 6, applied to the
 * desired state as to ops), in exactly this order, stopping at the first failure with that
 * step's own error:
 * envelope shape → payload type → known keyid → signature → payload decode → audience →
 * time (issued_at not in the future; expires_at not passed, on first acceptance only) →
 * capability `desired` → rollback (not older than the last good) → document decode
 * (every bad path named) → document revision matches the signed revision.
 * Nothing of a refused document is ever served. Pure: `now` is passed in.
 */
import { Either } from "effect"
import { PayloadMalformed } from "../authz/SignedOpError.js"
import type { Signers } from "../authz/Signers.js"
import { type EnvelopeRefused, issuesOf, payloadJson, verifyEnvelope } from "../authz/verifyEnvelope.js"
import { decodeDesiredState, type DesiredState, type DesiredStateInvalid } from "../domain/DesiredState.js"
import {
  DesiredCapabilityMissing,
  DesiredExpired,
  DesiredNotYetValid,
  DesiredRevisionMismatch,
  DesiredRollback,
  DesiredWrongAudience
} from "./HubError.js"
import { decodeDesiredPayload, DESIRED_PAYLOAD_TYPE, MAX_DESIRED_BYTES } from "./protocol.js"

export const DEFAULT_DESIRED_SKEW_SECONDS = 60

export type DesiredRefused =
  | EnvelopeRefused
  | PayloadMalformed
  | DesiredWrongAudience
  | DesiredNotYetValid
  | DesiredExpired
  | DesiredCapabilityMissing
  | DesiredRollback
  | DesiredStateInvalid
  | DesiredRevisionMismatch

export interface AcceptedDesired {
  readonly revision: string
  /** Epoch seconds, signed: orders documents (rollback protection). */
  readonly issuedAt: number
  readonly expiresAt: number | undefined
  /** The decoded document; its `revision` is the signed revision. */
  readonly document: DesiredState
  /** The signer whose valid signature holds the `desired` capability. */
  readonly keyid: string
}

export interface VerifyDesiredOptions {
  readonly agentId: string
  readonly signers: Signers
  /** Epoch seconds. */
  readonly now: number
  /** Tolerated clock difference with the hub, seconds; default 60. */
  readonly skew?: number
  /**
   * False when re-verifying the stored last good document at start: expires_at bounds how
   * long a document may travel before it is accepted, not how long it stays in force once
   * accepted (otherwise a hub outage longer than its lifetime would leave the agent with no
   * desired state, which is what the last good document exists to prevent).
   */
  readonly checkExpiry: boolean
  /** The last good document's order, when there is one: anything older is a rollback. */
  readonly lastGood?: { readonly revision: string; readonly issuedAt: number } | undefined
}

export const verifyDesired = (
  bytes: Uint8Array,
  options: VerifyDesiredOptions
): Either.Either<AcceptedDesired, DesiredRefused> => {
  const skew = options.skew ?? DEFAULT_DESIRED_SKEW_SECONDS
  const now = options.now
  return Either.gen(function*() {
    const verified = yield* verifyEnvelope(bytes, DESIRED_PAYLOAD_TYPE, options.signers, MAX_DESIRED_BYTES)
    const json = yield* payloadJson(verified.payloadBytes)
    const payload = yield* Either.mapLeft(
      decodeDesiredPayload(json),
      (e) => new PayloadMalformed({ issues: issuesOf(e) })
    )
    const revision = payload.revision
    if (payload.agent !== options.agentId) {
      return yield* Either.left(new DesiredWrongAudience({ revision, expected: options.agentId, agent: payload.agent }))
    }
    if (payload.issued_at > now + skew) {
      return yield* Either.left(new DesiredNotYetValid({ revision, issuedAt: payload.issued_at, now, skew }))
    }
    if (payload.expires_at !== undefined) {
      if (payload.expires_at <= payload.issued_at) {
        return yield* Either.left(
          new PayloadMalformed({
            issues: [{ path: "expires_at", message: "expires_at must be after issued_at" }]
          })
        )
      }
      if (options.checkExpiry && now > payload.expires_at + skew) {
        return yield* Either.left(new DesiredExpired({ revision, expiresAt: payload.expires_at, now, skew }))
      }
    }
    const holder = verified.signers.find((s) => s.capabilities.has("desired"))
    if (holder === undefined) {
      return yield* Either.left(
        new DesiredCapabilityMissing({ revision, keyids: verified.signers.map((s) => s.keyid) })
      )
    }
    const last = options.lastGood
    if (last !== undefined && payload.issued_at < last.issuedAt) {
      return yield* Either.left(
        new DesiredRollback({
          revision,
          issuedAt: payload.issued_at,
          lastGoodRevision: last.revision,
          lastGoodIssuedAt: last.issuedAt
        })
      )
    }
    const document = yield* decodeDesiredState(payload.document, `hub desired revision ${revision}`)
    if (document.revision !== undefined && document.revision !== revision) {
      return yield* Either.left(new DesiredRevisionMismatch({ revision, documentRevision: document.revision }))
    }
    return {
      revision,
      issuedAt: payload.issued_at,
      expiresAt: payload.expires_at,
      // The reconciler derives planned op ids from the revision: it must be the signed one.
      document: { ...document, revision },
      keyid: holder.keyid
    }
  })
}
