/**
 * Short fault soak (the long run is `npm run soak`): about 60 ops with 20 %
 * 5xx and 5 % dropped connections before and after mutations, then faults off. No duplicate
 * mutation, full convergence, every failure typed, nothing left unfinished in the journal.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { runSoak } from "../../scripts/lib/soakRun.js"

describe("fault soak (short)", () => {
  it(
    "60 ops under 5xx (before and after applying) and dropped connections: no duplicate, converged, typed, journal true",
    async () => {
      const r = await Effect.runPromise(runSoak({ ops: 60, guests: 12, seed: 11 }))
      expect(r.ops).toBeGreaterThanOrEqual(60)
      expect(r.duplicateConfigWrites).toEqual([])
      expect(r.duplicatePowerChanges).toEqual([])
      expect(r.untypedFailures).toEqual([])
      expect(r.journalFailedWithoutTag).toBe(0)
      expect(r.journalUnfinished).toBe(0)
      expect(r.convergedExceptFlagged).toBe(true)
      // The journal tells the truth: no op done without its change, none failed that PVE applied.
      expect(r.disagreements).toEqual([])
      // A flag is only ever the task-list ambiguity of invariant 5, never anything else.
      for (const line of r.needsOperator) expect(line).toMatch(/matching tasks/)
    },
    90_000
  )
})
