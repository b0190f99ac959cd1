/**
 * Fuzzing, the evidence that outside input never crashes the agent or forges an op: fast-check
 * over signed envelopes, desired-state documents, config
 * documents and PVE responses (the response decoders, and the real client against a raw HTTP
 * server answering random statuses and bodies). Passes with 0 crashes, 0 accepted forgeries and
 * every rejection a typed, named error.
 *
 *   npm run fuzz                                 (100k cases in total by default)
 *   FUZZ_CASES=1000000 FUZZ_SEED=42 npm run fuzz
 *
 * Split: 35 % envelopes, 25 % desired state, 20 % config, 18 % response decoders, 2 % client.
 */
import { performance } from "node:perf_hooks"
import {
  fuzzDesired,
  fuzzEnvelopes,
  fuzzPveClient,
  fuzzPveDecoders,
  fuzzSettings,
  type TargetReport
} from "./lib/fuzzTargets.js"

const TOTAL = Number(process.env.FUZZ_CASES ?? 100_000)
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)

const main = async (): Promise<void> => {
  const started = performance.now()
  console.log(`fuzz: ${TOTAL} cases, seed ${SEED ?? "random"}, node ${process.version}`)
  const reports: Array<TargetReport & { readonly seconds: number }> = []
  const timed = async (f: () => TargetReport | Promise<TargetReport>) => {
    const t0 = performance.now()
    const report = await f()
    reports.push({ ...report, seconds: (performance.now() - t0) / 1000 })
    const r = reports[reports.length - 1]
    if (r !== undefined) {
      console.log(
        `${r.target}: ${r.cases} cases in ${
          r.seconds.toFixed(1)
        } s, accepted ${r.accepted}, rejected ${r.rejected}, problems ${r.problems.length}`
      )
      console.log(
        `  rejections by tag: ${
          Object.entries(r.byTag).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ")
        }`
      )
      for (const p of r.problems) console.log(`  PROBLEM ${p}`)
      for (const [kind, n] of Object.entries(r.findings)) {
        console.log(`  FINDING (typed, but reported as a bug) ${kind}: ${n}`)
      }
    }
  }
  await timed(() => fuzzEnvelopes(Math.round(TOTAL * 0.35), SEED))
  await timed(() => fuzzDesired(Math.round(TOTAL * 0.25), SEED))
  await timed(() => fuzzSettings(Math.round(TOTAL * 0.2), SEED))
  await timed(() => fuzzPveDecoders(Math.round(TOTAL * 0.18), SEED))
  await timed(() => fuzzPveClient(Math.max(60, Math.round(TOTAL * 0.02)), SEED))
  const cases = reports.reduce((n, r) => n + r.cases, 0)
  const problems = reports.reduce((n, r) => n + r.problems.length, 0)
  console.log(
    `\ntotal ${cases} cases in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s: ${problems} problems (crashes, forgeries, unnamed rejections)`
  )
  process.exitCode = problems === 0 ? 0 : 1
}

void main()
