import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Random, Schedule } from "effect"
import { backoff } from "../../src/hub/backoff.js"

const policy = { base: Duration.seconds(1), cap: Duration.seconds(8) }

/** The delays the backoff chooses after each failure (its Retry-After in seconds, if any), with the random draw fixed at `u`. */
const delaysAfter = (u: number, failures: ReadonlyArray<number | undefined>) =>
  Schedule.run(Schedule.delays(backoff(policy, (retryAfter: number | undefined) => retryAfter)), 0, failures).pipe(
    Effect.map((delays) => Chunk.toReadonlyArray(delays).map(Duration.toMillis)),
    Effect.withRandom(Random.fixed([u]))
  )

describe("hub backoff", () => {
  it.effect("doubles from the base up to the cap, times a random factor in [1/2, 1)", () =>
    Effect.gen(function*() {
      const six = Array.from({ length: 6 }, () => undefined)
      expect(yield* delaysAfter(0, six)).toEqual([500, 1_000, 2_000, 4_000, 4_000, 4_000])
      expect(yield* delaysAfter(0.5, six)).toEqual([750, 1_500, 3_000, 6_000, 6_000, 6_000])
      expect(yield* delaysAfter(0.9999, six)).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000])
    }))

  it.effect("a Retry-After longer than the backoff is a floor; a shorter one changes nothing", () =>
    Effect.gen(function*() {
      expect(yield* delaysAfter(0, [undefined, 60, 1, undefined])).toEqual([500, 60_000, 2_000, 4_000])
    }))
})
