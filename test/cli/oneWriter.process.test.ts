/**
 * Two acting commands on one state directory, no daemon: the second never runs recovery over
 * the first one's live op. It is refused at once naming the holder, or waits with --wait; the
 * first finishes as if alone. (Before the state lock, the second marked the first's in-flight op
 * "failed: not applied" while PVE applied it, and the first died on a bad transition.)
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, Redacted } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { DEFAULT_TOKEN_ID } from "../../src/sim/Simulator.js"
import { SEEDS } from "../reconcile/EngineSupport.js"
import { type CliResult, runCli } from "../support/cli.js"
import { connectionFlags, journalOps, pollUntil, tempDir } from "../support/daemon.js"
import { Sim } from "../support/sim.js"

const setup = Effect.gen(function*() {
  const sim = yield* Sim
  const dir = yield* tempDir("felhom-writer-")
  const tokenFile = path.join(dir, "token")
  fs.writeFileSync(tokenFile, `${sim.tokenId}=${Redacted.value(sim.tokenSecret)}\n`, { mode: 0o600 })
  const desiredFile = path.join(dir, "desired.yaml")
  fs.writeFileSync(desiredFile, "guests:\n  \"100\":\n    config:\n      description: slow write\n")
  const stateDir = path.join(dir, "state")
  const connection = [...connectionFlags(sim, tokenFile), "--state-dir", stateDir]
  return { sim, desiredFile, connection, stateDir }
})

/** Waits until the first process's op is in flight; fails with its output if it ended first. */
const inFlight = (stateDir: string, first: Fiber.RuntimeFiber<CliResult>) =>
  pollUntil(
    "the first apply's op in flight",
    Effect.zip(journalOps(stateDir), Fiber.poll(first)),
    ([ops, done]) => ops[0]?.phase === "in-flight" || Option.isSome(done),
    { timeout: "90 seconds" }
  ).pipe(
    Effect.flatMap(([, done]) =>
      Option.match(done, {
        onNone: () => Effect.void,
        onSome: (exit) =>
          Effect.fail(new Error(`the first apply ended before its op was in flight: ${JSON.stringify(exit)}`))
      })
    )
  )

const ours = (sim: Sim["Type"]) => sim.cluster.mutations().filter((m) => m.user === DEFAULT_TOKEN_ID)

describe("one writer per state directory", () => {
  it.scopedLive(
    "a second apply while the first one's op is in flight is refused, naming the holder; the first finishes alone",
    () =>
      Effect.gen(function*() {
        const { sim, desiredFile, connection, stateDir } = yield* setup
        // 100's config task runs until the test lets it finish.
        sim.cluster.setFaults({ stuckTasks: [{ vmid: 100, type: "qmconfig" }] })
        const first = yield* Effect.fork(
          runCli(["apply", ...connection, "--desired", desiredFile, "--json"], {}, { timeout: 60_000 })
        )
        yield* inFlight(stateDir, first)
        const second = yield* runCli(["apply", ...connection, "--desired", desiredFile], {}, { timeout: 60_000 })
        sim.cluster.clearFaults()
        expect(second.code).toBe(1)
        expect(second.stdout).toBe("")
        expect(second.stderr).toMatch(
          /^felhom-agent: state directory \S+ is in use by PID \d+ \(felhom-agent apply, since [^)]+\); wait for it to finish, or pass --wait\n$/
        )
        const done = yield* Fiber.join(first)
        expect(done.code).toBe(0)
        expect(JSON.parse(done.stdout)).toMatchObject({ succeeded: true })
        const ops = yield* journalOps(stateDir)
        expect(ops.map((o) => o.phase)).toEqual(["done"])
        expect(ours(sim)).toHaveLength(1)
      }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))),
    180_000
  )

  it.scopedLive(
    "with --wait the second apply waits for the first, then finds nothing left to do",
    () =>
      Effect.gen(function*() {
        const { sim, desiredFile, connection, stateDir } = yield* setup
        sim.cluster.setFaults({ stuckTasks: [{ vmid: 100, type: "qmconfig" }] })
        const first = yield* Effect.fork(
          runCli(["apply", ...connection, "--desired", desiredFile], {}, { timeout: 60_000 })
        )
        yield* inFlight(stateDir, first)
        const waiting = yield* Deferred.make<void>()
        const secondFiber = yield* Effect.fork(
          runCli(["apply", ...connection, "--desired", desiredFile, "--wait", "--json"], {}, {
            timeout: 60_000,
            onStderr: (text) => {
              if (text.includes("waiting: state directory")) Deferred.unsafeDone(waiting, Effect.void)
            }
          })
        )
        yield* Deferred.await(waiting)
        sim.cluster.clearFaults()
        expect((yield* Fiber.join(first)).code).toBe(0)
        const second = yield* Fiber.join(secondFiber)
        expect(second.code).toBe(0)
        expect(second.stderr).toContain("waiting: state directory")
        expect(JSON.parse(second.stdout)).toMatchObject({ succeeded: true, results: [] })
        expect((yield* journalOps(stateDir)).map((o) => o.phase)).toEqual(["done"])
        expect(ours(sim)).toHaveLength(1)
      }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))),
    180_000
  )
})
