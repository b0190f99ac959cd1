/**
 * Fault soak, the evidence that faults never duplicate or lose an op: 1,000 ops through the
 * Engine in-process against the simulator
 * with 20 % HTTP 5xx and 5 % dropped connections before and after a mutation is applied, then
 * faults off. See scripts/lib/soakRun.ts for what is counted and how.
 *
 *   npm run soak
 *   SOAK_OPS=5000 SOAK_GUESTS=100 SOAK_SEED=3 npm run soak
 */
import { Effect } from "effect"
import { runSoak } from "./lib/soakRun.js"

const ops = Number(process.env.SOAK_OPS ?? 1_000)
const guests = Number(process.env.SOAK_GUESTS ?? 60)
const seed = Number(process.env.SOAK_SEED ?? 7)

const main = async (): Promise<void> => {
  console.log(
    `soak: ${ops} ops over ${guests} guests, seed ${seed}, 10 % 5xx before + 10 % 5xx after applying, 5 % drop before + 5 % drop after mutations`
  )
  const r = await Effect.runPromise(runSoak({ ops, guests, seed, log: (l) => console.log(`  ${l}`) }))
  console.log(JSON.stringify(r, null, 2))
  const ok = r.duplicateConfigWrites.length === 0 && r.duplicatePowerChanges.length === 0 && r.convergedExceptFlagged &&
    r.untypedFailures.length === 0 && r.journalFailedWithoutTag === 0 && r.journalUnfinished === 0 &&
    r.disagreements.length === 0
  console.log(
    `\n${ok ? "PASS" : "FAIL"}: ${r.ops} ops in ${r.rounds} rounds, ${r.mutations} mutations, duplicates ${
      r.duplicateConfigWrites.length + r.duplicatePowerChanges.length
    }, converged ${r.converged} (all but operator-flagged guests: ${r.convergedExceptFlagged}, flagged ops ${r.needsOperator.length}) after ${r.convergencePasses} fault-free pass(es), untyped failures ${r.untypedFailures.length}, journal records disagreeing with PVE ${r.disagreements.length} of ${
      r.journalDone + r.journalFailed
    }, ${r.seconds.toFixed(1)} s`
  )
  process.exitCode = ok ? 0 : 1
}

void main()
