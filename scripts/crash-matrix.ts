/**
 * Crash matrix, the evidence for exactly-once across crashes (docs/architecture.md, invariant 5):
 * SIGKILL the real `apply` at each of 6 points × N runs, restart,
 * check duplicates, lost journal entries and convergence. See scripts/lib/crashRun.ts.
 *
 *   npm run crash-matrix                   (4 runs per point: about 4.5 min on 2 cores)
 *   CRASH_RUNS=20 npm run crash-matrix
 *   CRASH_POINTS=waiting,random-time npm run crash-matrix
 */
import { Effect } from "effect"
import { type CrashPoint, type CrashResult, POINTS, runCrashPoint } from "./lib/crashRun.js"

const RUNS = Number(process.env.CRASH_RUNS ?? 4)
const points = (process.env.CRASH_POINTS?.split(",") ?? POINTS) as ReadonlyArray<CrashPoint>

const main = async (): Promise<void> => {
  const started = Date.now()
  console.log(`crash matrix: ${points.length} points × ${RUNS} runs, node ${process.version}`)
  const results: Array<CrashResult> = []
  for (const point of points) {
    for (let run = 1; run <= RUNS; run++) {
      const r = await Effect.runPromise(runCrashPoint(point, run))
      results.push(r)
      console.log(
        `${r.ok ? "ok  " : "FAIL"} ${point.padEnd(12)} run ${run}: killed [${
          r.killed.join("; ")
        }], recovery exit ${r.recoveryExit}, final actions ${r.finalActions}, mutations ${r.mutations}, duplicates ${r.duplicates.length}, lost ${r.lost.length}, unfinished ${r.unfinished}`
      )
      for (const d of [...r.duplicates, ...r.lost]) console.log(`       ${d}`)
    }
  }
  const failed = results.filter((r) => !r.ok)
  const sum = (f: (r: CrashResult) => number) => results.reduce((n, r) => n + f(r), 0)
  console.log(
    `\n${results.length} runs in ${
      ((Date.now() - started) / 1000).toFixed(0)
    } s: ${failed.length} failed; duplicate mutations ${sum((r) => r.duplicates.length)}, lost journal entries ${
      sum((r) => r.lost.length)
    }, unfinished ops ${sum((r) => r.unfinished)}, not converged ${results.filter((r) => r.finalActions !== 0).length}`
  )
  process.exitCode = failed.length === 0 ? 0 : 1
}

void main()
