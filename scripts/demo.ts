/**
 * `npm start`: the agent against the embedded PVE simulator. Starts a simulator with a handful
 * of guests, reads examples/desired.yaml (which has drift), shows the plan, applies it — with
 * start-up recovery first, as `apply` does — then plans again and shows zero changes, and runs a
 * second pass to show it mutates nothing. State lives in a temp directory removed at the end.
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Logger, LogLevel } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { CoreLive } from "../src/app/Agent.js"
import { recoverFirst } from "../src/app/requests.js"
import { StoresLive } from "../src/app/Stores.js"
import { planNow, readDesired } from "../src/cli/plan.js"
import { makeConnectionSettings, PveConnection } from "../src/pve/PveConnection.js"
import { DesiredProvider } from "../src/reconcile/DesiredProvider.js"
import { describeOutcome, isSuccess } from "../src/reconcile/Outcome.js"
import { planReport, renderPlan } from "../src/reconcile/planReport.js"
import { Reconciler } from "../src/reconcile/Reconciler.js"
import { DEMO_GUESTS, DEMO_LOCKS } from "../src/sim/demoGuests.js"
import { type RunningSim, startSimulator } from "../src/sim/Simulator.js"
import { Journal } from "../src/state/Journal.js"

const DESIRED = new URL("../examples/desired.yaml", import.meta.url).pathname

// The sample document also resizes guests; the gate lets automatic reconcile write only benign
// keys unless the operator widens the list (gate.allowKeys / --allow-keys), as the demo does.
const DEMO_ALLOW_KEYS = ["memory", "cores"]

const heading = (text: string) => Console.log(`\n=== ${text} ${"=".repeat(Math.max(0, 70 - text.length))}`)

const layerFor = (sim: RunningSim, stateDir: string, desired: Parameters<typeof DesiredProvider.Static>[0]) => {
  const connection = Layer.effect(
    PveConnection,
    Effect.orDie(
      makeConnectionSettings({
        url: sim.url,
        token: { tokenId: sim.tokenId, secret: sim.tokenSecret },
        fingerprint: sim.fingerprint
      })
    )
  )
  return CoreLive({ gate: { allowKeys: DEMO_ALLOW_KEYS } }).pipe(
    Layer.provideMerge(connection),
    Layer.provideMerge(StoresLive({ stateDir, writer: { command: "demo" } })),
    Layer.provide(DesiredProvider.Static(desired))
  )
}

const program = Effect.scoped(Effect.gen(function*() {
  const stateDir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "felhom-demo-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  const sim = yield* startSimulator({ guests: DEMO_GUESTS, taskDuration: 150 })
  for (const [vmid, lock] of DEMO_LOCKS) sim.cluster.setLock(vmid, lock)
  yield* Console.log(`PVE simulator on ${sim.url} (pinned ${sim.fingerprint.slice(0, 23)}…), state in ${stateDir}`)
  const desired = yield* readDesired(DESIRED)
  yield* Console.log(
    `desired state: ${DESIRED} (revision ${desired.revision ?? "-"}); gate allows also: ${DEMO_ALLOW_KEYS.join(", ")}`
  )

  return yield* Effect.gen(function*() {
    const reconciler = yield* Reconciler
    yield* heading("plan")
    yield* Console.log(renderPlan(yield* planNow(desired)))
    const recovery = yield* recoverFirst
    const pass = yield* reconciler.runOnce
    yield* heading(`apply (recovered ${recovery.total} unfinished op(s) first)`)
    for (const r of pass.results) {
      yield* Console.log(
        `  ${isSuccess(r.outcome) ? "✓" : "✗"} ${r.action.guest.type}/${r.action.guest.vmid} ${r.action._tag}: ${
          describeOutcome(r.outcome)
        }`
      )
    }
    const mutations = sim.cluster.mutations().filter((m) => m.user === sim.tokenId).length
    yield* Console.log(`  ${mutations} mutation(s) reached PVE in ${pass.durationMillis} ms`)
    yield* heading("plan again")
    const second = yield* reconciler.runOnce
    yield* Console.log(renderPlan(planReport(second.plan, second.observed)))
    const after = sim.cluster.mutations().filter((m) => m.user === sim.tokenId).length
    yield* Console.log(
      `\nsecond pass: ${second.results.length} action(s), ${after - mutations} new mutation(s) — converged.`
    )
    const journal = yield* Journal
    yield* Console.log(
      `journal: ${(yield* journal.list()).length} op(s) recorded in ${path.join(stateDir, "state.db")}`
    )
    if (!pass.results.every((r) => isSuccess(r.outcome)) || second.plan.actions.length > 0) {
      return yield* Effect.fail(new Error("the demo did not converge"))
    }
  }).pipe(Effect.provide(layerFor(sim, stateDir, desired)))
}))

NodeRuntime.runMain(program.pipe(Effect.provide(NodeContext.layer), Logger.withMinimumLogLevel(LogLevel.Warning)))
