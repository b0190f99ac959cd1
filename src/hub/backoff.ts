/**
 * The hub loop's retry delays: exponential from `base`, capped, with "equal jitter" (half fixed,
 * half random) so a fleet of agents that lost the hub together does not return in lockstep,
 * while no agent ever retries sooner than half the nominal delay. The random draw comes from
 * Effect's Random (`Schedule.jitteredWith`), so a test can fix it
 * (Effect.withRandom(Random.fixed([...]))).
 */
import { Duration, Effect, Random } from "effect"

export interface BackoffPolicy {
  readonly base: Duration.Duration
  readonly cap: Duration.Duration
}

export const DEFAULT_BACKOFF: BackoffPolicy = { base: Duration.seconds(5), cap: Duration.minutes(5) }

/** Nominal delay after `failures` consecutive failures (1 = the first), before jitter. */
export const nominalDelayMillis = (policy: BackoffPolicy, failures: number): number => {
  const base = Duration.toMillis(policy.base)
  const cap = Duration.toMillis(policy.cap)
  // 2^n overflows to Infinity long after it passed the cap; min() keeps it finite.
  return Math.min(cap, base * 2 ** Math.max(0, failures - 1))
}

/** `u` in [0, 1): the delay is nominal × (1/2 + u/2). */
export const jitteredMillis = (nominal: number, u: number): number => Math.round(nominal / 2 + (u * nominal) / 2)

/**
 * Retries failures of type `E`: base, 2 × base, 4 × base, … up to `cap`, each times a factor
 * drawn from [1/2, 1). A hub's Retry-After is honoured as a floor (it knows its own load),
 * itself bounded by the client to an hour.
 */
export const backoffDelay = (
  policy: BackoffPolicy,
  failures: number,
  retryAfterSeconds: number | undefined
): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.next, (u) => {
    const jittered = jitteredMillis(nominalDelayMillis(policy, failures), u)
    const floor = retryAfterSeconds === undefined ? 0 : retryAfterSeconds * 1000
    return Duration.millis(Math.max(jittered, floor))
  })
