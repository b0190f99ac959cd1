import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Either, Fiber, Layer, Metric, Random, Ref, TestClock } from "effect"
import type { OpPayload } from "../../src/authz/OpPayload.js"
import { makeVmid } from "../../src/domain/Vmid.js"
import { HubClient, type HubClientShape } from "../../src/hub/HubClient.js"
import { HubDesiredProvider } from "../../src/hub/HubDesiredProvider.js"
import { HubRejected, HubUnreachable } from "../../src/hub/HubError.js"
import { HubLoop, HubLoopMetrics } from "../../src/hub/HubLoop.js"
import { emptyReportInput, type OpOutcomeSummary, type Report, type ReportInput } from "../../src/hub/protocol.js"
import { StateStore } from "../../src/state/StateStore.js"
import { makeHubKey, signersTrusting, startTestHub } from "../support/TestHub.js"
import { AGENT, buildStack, tempDb } from "./support.js"

const nowS = () => Math.floor(Date.now() / 1000)
const op = (seq: number): OpPayload => ({
  op_id: `op-${seq}`,
  iss: "hub.test",
  aud: AGENT,
  target: { vmid: makeVmid(101) },
  iat: nowS() - 5,
  exp: nowS() + 300,
  seq,
  action: { kind: "start" }
})
const seqOf = (envelope: unknown): number => {
  const payload = (envelope as { payload: string }).payload
  return (JSON.parse(Buffer.from(payload, "base64").toString("utf8")) as { seq: number }).seq
}

describe("HubLoop ops", () => {
  it.live("hands ops after the cursor to onOp in seq order, and the cursor survives a restart", () =>
    Effect.gen(function*() {
      const hub = yield* startTestHub({ agent: AGENT })
      const file = yield* tempDb
      const signers = signersTrusting(hub.key)
      for (const seq of [3, 1, 2]) hub.appendOp(op(seq))
      yield* Effect.scoped(Effect.gen(function*() {
        const s = yield* buildStack(hub, file, signers)
        yield* s.loop.pass
        expect((yield* Ref.get(s.handled)).map(seqOf)).toEqual([1, 2, 3])
        hub.appendOp(op(4))
        yield* s.loop.pass
        expect((yield* Ref.get(s.handled)).map(seqOf)).toEqual([1, 2, 3, 4])
      }))
      const s = yield* buildStack(hub, file, signers)
      yield* s.loop.pass
      expect(hub.seen.filter((r) => r.url.includes("/ops")).map((r) => r.url.split("after=")[1])).toEqual([
        "0",
        "3",
        "4"
      ])
      expect(yield* Ref.get(s.handled)).toEqual([])
    }).pipe(Effect.scoped))

  it.live("a deferred op stops the batch without moving the cursor; the high-water mark is a floor", () =>
    Effect.gen(function*() {
      const hub = yield* startTestHub({ agent: AGENT })
      for (const seq of [6, 7, 8]) hub.appendOp(op(seq))
      const seen = yield* Ref.make<ReadonlyArray<number>>([])
      const onOp = (envelope: unknown) =>
        Effect.as(
          Ref.update(seen, (x) => [...x, seqOf(envelope)]),
          {
            result: seqOf(envelope) === 7 ? "deferred" : "refused",
            error_tag: "SignatureInvalid",
            message: "no"
          } satisfies OpOutcomeSummary
        )
      const s = yield* buildStack(hub, yield* tempDb, signersTrusting(hub.key), { onOp, highWater: Effect.succeed(5) })
      yield* s.loop.pass
      yield* s.loop.pass
      expect(yield* Ref.get(seen)).toEqual([6, 7, 7])
      expect(hub.seen.filter((r) => r.url.includes("/ops")).map((r) => r.url.split("after=")[1])).toEqual(["5", "6"])
    }).pipe(Effect.scoped))
})

describe("HubLoop reports", () => {
  it.live("posts the daemon's report with the op outcomes collected since the last accepted report", () =>
    Effect.gen(function*() {
      const hub = yield* startTestHub({ agent: AGENT })
      hub.setDesired({ guests: { "101": { power: "running" } } }, { revision: "r5" })
      hub.appendOp(op(1))
      const input: ReportInput = {
        observed: { guests: [{ vmid: 101, node: "pve1", type: "qemu", status: "stopped", name: "web" }] },
        drift: { actions: 1, planned: [{ vmid: 101, kind: "Start", summary: "start 101" }] },
        restart_required: [102],
        refusals: [{ tag: "GateRefused", message: "irreversible", at: 1 }]
      }
      const s = yield* buildStack(hub, yield* tempDb, signersTrusting(hub.key), { report: Effect.succeed(input) })
      yield* s.loop.pass
      const first = hub.reports[0] as Report
      expect(first).toMatchObject({
        version: 1,
        agent: AGENT,
        desired: { revision: "r5", source: "hub" },
        ...input,
        ops: [{ result: "applied", message: "ok" }],
        ops_dropped: 0
      })
      expect(Date.parse(first.time)).not.toBeNaN()
      yield* s.loop.pass
      expect((hub.reports[1] as Report).ops).toEqual([])
    }).pipe(Effect.scoped))

  it.live("outcomes are kept while the hub refuses reports and sent once it takes them", () =>
    Effect.gen(function*() {
      const hub = yield* startTestHub({ agent: AGENT })
      hub.appendOp(op(1))
      const s = yield* buildStack(hub, yield* tempDb, signersTrusting(hub.key))
      // GET desired answers 404 (no document), ops are fetched; make only the report fail.
      yield* s.loop.pass
      expect((hub.reports[0] as Report).ops).toHaveLength(1)
      hub.appendOp(op(2))
      yield* hub.setMode({ _tag: "Unavailable", retryAfter: 30 })
      const failed = yield* Effect.either(s.loop.pass)
      expect(Either.isLeft(failed) && failed.left).toMatchObject({ _tag: "HubRejected", status: 503, retryAfter: 30 })
      yield* hub.setMode({ _tag: "Up" })
      yield* s.loop.pass
      expect((hub.reports[1] as Report).ops.map((o) => o.message)).toEqual(["ok"])
    }).pipe(Effect.scoped))
})

/** A hub client whose answers the test scripts; every call's virtual time is recorded. */
const scriptedClient = (
  calls: Ref.Ref<ReadonlyArray<number>>,
  answer: Ref.Ref<"down" | "busy" | "up">
): HubClientShape => ({
  fetchDesired: () =>
    Effect.gen(function*() {
      const now = yield* TestClock.currentTimeMillis
      yield* Ref.update(calls, (c) => [...c, now])
      const a = yield* Ref.get(answer)
      if (a === "down") return yield* new HubUnreachable({ operation: "GET desired", reason: "ECONNREFUSED" })
      if (a === "busy") {
        return yield* new HubRejected({ operation: "GET desired", status: 503, retryAfter: 60, detail: "" })
      }
      return { _tag: "NotModified" } as const
    }),
  fetchOps: () => Effect.succeed([]),
  postReport: () => Effect.void
})

/** What felhom_hub_consecutive_failures reads now (one global registry per test file). */
const failuresGauge = Effect.map(Metric.value(HubLoopMetrics.consecutiveFailures), (state) => state.value)

describe("HubLoop backoff", () => {
  it.effect("backs off exponentially with jitter up to the cap, honours Retry-After, and returns to the interval; the failure gauge follows", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make<ReadonlyArray<number>>([])
      const answer = yield* Ref.make<"down" | "busy" | "up">("down")
      const layer = HubLoop.layer({
        agentId: AGENT,
        interval: Duration.seconds(30),
        backoff: { base: Duration.seconds(1), cap: Duration.seconds(8) },
        onOp: () => Effect.die("no ops expected"),
        report: Effect.succeed(emptyReportInput)
      }).pipe(
        Layer.provideMerge(HubDesiredProvider.layer({ agentId: AGENT, signers: signersTrusting(makeHubKey()) })),
        Layer.provideMerge(Layer.succeed(HubClient, scriptedClient(calls, answer))),
        Layer.provideMerge(StateStore.layerMemory)
      )
      // Left over from an earlier loop: starting one resets it.
      yield* Metric.set(HubLoopMetrics.consecutiveFailures, 99)
      const loop = Context.get(yield* Layer.build(layer), HubLoop)
      expect(yield* failuresGauge).toBe(0)
      // u = 0: each delay is exactly half the nominal one (the jitter's lower bound).
      const fiber = yield* Effect.fork(loop.run.pipe(Effect.withRandom(Random.fixed([0]))))
      const advanceTo = (ms: number) =>
        Effect.gen(function*() {
          while ((yield* TestClock.currentTimeMillis) < ms) {
            yield* TestClock.adjust(Duration.millis(500))
            yield* Effect.yieldNow()
          }
        })
      yield* advanceTo(12_000)
      // Nominal 1, 2, 4, 8, 8 s → halves 0.5, 1, 2, 4, 4 s.
      expect(yield* Ref.get(calls)).toEqual([0, 500, 1_500, 3_500, 7_500, 11_500])
      expect((yield* loop.status).consecutiveFailures).toBe(6)
      expect(yield* failuresGauge).toBe(6)

      yield* Ref.set(answer, "busy")
      yield* advanceTo(100_000)
      // 15_500 is the first busy answer (Retry-After 60 s beats the 4 s backoff).
      expect((yield* Ref.get(calls)).slice(6)).toEqual([15_500, 75_500])

      yield* Ref.set(answer, "up")
      yield* advanceTo(200_000)
      expect((yield* Ref.get(calls)).slice(8)).toEqual([135_500, 165_500, 195_500])
      expect((yield* loop.status).consecutiveFailures).toBe(0)
      expect(yield* failuresGauge).toBe(0)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.scoped))
})
