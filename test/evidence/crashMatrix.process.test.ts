/**
 * Short crash matrix (the long run is `npm run crash-matrix`, all 6 points × N):
 * the real `apply` SIGKILLed over 4 guests, then restarted: no duplicate mutation, no mutation
 * missing from the journal, nothing unfinished, converged. To stay within ~90 s on a 2-core
 * machine the short version runs 3 of the 6 points, side by side (each has its own simulator
 * and state dir): before-call, after-task, and the double crash, which kills after the call and
 * then kills the recovering apply while it waits — so all four engine phases are hit.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { type CrashPoint, runCrashPoint } from "../../scripts/lib/crashRun.js"

const SHORT: ReadonlyArray<CrashPoint> = ["before-call", "after-task", "double-crash"]

describe.concurrent("crash matrix (short)", () => {
  for (const point of SHORT) {
    it(`SIGKILL at ${point}: restart converges with no duplicate or lost op`, async () => {
      const r = await Effect.runPromise(runCrashPoint(point, 1))
      expect(r.killed.every((k) => k.endsWith("SIGKILL"))).toBe(true)
      expect(r.duplicates).toEqual([])
      expect(r.lost).toEqual([])
      expect(r.unfinished).toBe(0)
      expect(r.finalActions).toBe(0)
      expect(r.ok).toBe(true)
    }, 90_000)
  }
})
