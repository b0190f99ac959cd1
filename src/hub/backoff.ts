/**
 * The hub loop's retry delays: exponential from `base`, capped, with "equal jitter" (half fixed,
 * half random) so a fleet of agents that lost the hub together does not return in lockstep,
 * while no agent ever retries sooner than half the nominal delay. The random draw comes from
 * Effect's Random (`Schedule.jitteredWith`), so a test can fix it
 * (Effect.withRandom(Random.fixed([...]))).
 */
import { Duration, Schedule } from "effect"

export interface BackoffPolicy {
  readonly base: Duration.Duration
  readonly cap: Duration.Duration
}

export const DEFAULT_BACKOFF: BackoffPolicy = { base: Duration.seconds(5), cap: Duration.minutes(5) }

/**
 * Retries failures of type `E`: base, 2 × base, 4 × base, … up to `cap`, each times a factor
 * drawn from [1/2, 1). A hub's Retry-After is honoured as a floor (it knows its own load),
 * itself bounded by the client to an hour.
 */
export const backoff = <E>(policy: BackoffPolicy, retryAfterSeconds: (error: E) => number | undefined) =>
  Schedule.identity<E>().pipe(
    Schedule.zipLeft(
      Schedule.exponential(policy.base, 2).pipe(
        Schedule.union(Schedule.spaced(policy.cap)),
        Schedule.jitteredWith({ min: 0.5, max: 1 })
      )
    ),
    Schedule.modifyDelay((error, delay) =>
      Duration.millis(Math.max(Math.round(Duration.toMillis(delay)), (retryAfterSeconds(error) ?? 0) * 1000))
    )
  )
