import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, FastCheck, Option } from "effect"
import { makeVmid } from "../../src/domain/Vmid.js"
import type { GuestJobKind } from "../../src/reconcile/GuestQueue.js"
import { GuestQueue, GuestQueueSuperseded } from "../../src/reconcile/GuestQueue.js"

interface Op {
  readonly guest: number
  readonly kind: GuestJobKind
  /** The job's "duration", in scheduler yields: deterministic, and other fibers interleave. */
  readonly steps: number
  /** Yields of the submitting fiber before this submit, so submits land on running lanes too. */
  readonly gap: number
}

const op: FastCheck.Arbitrary<Op> = FastCheck.record({
  guest: FastCheck.integer({ min: 0, max: 5 }),
  kind: FastCheck.constantFrom<GuestJobKind>("ordered", "ordered", "reconcile"),
  steps: FastCheck.integer({ min: 0, max: 6 }),
  gap: FastCheck.integer({ min: 0, max: 3 })
})

describe("GuestQueue properties", () => {
  it.effect.prop(
    "per vmid: start order is submit order, never two at once; globally: never above the bound",
    { ops: FastCheck.array(op, { minLength: 1, maxLength: 400 }), concurrency: FastCheck.integer({ min: 1, max: 4 }) },
    ({ concurrency, ops }) =>
      Effect.gen(function*() {
        const queue = yield* GuestQueue
        const runningPerGuest = new Map<number, number>()
        const startedPerGuest = new Map<number, Array<number>>()
        let running = 0
        let maxRunning = 0
        let guestOverlaps = 0
        const tickets = []
        for (const [index, { gap, guest, kind, steps }] of ops.entries()) {
          for (let i = 0; i < gap; i++) yield* Effect.yieldNow()
          const job = Effect.gen(function*() {
            const mine = (runningPerGuest.get(guest) ?? 0) + 1
            runningPerGuest.set(guest, mine)
            if (mine > 1) guestOverlaps++
            running++
            maxRunning = Math.max(maxRunning, running)
            startedPerGuest.set(guest, [...(startedPerGuest.get(guest) ?? []), index])
            for (let i = 0; i < steps; i++) yield* Effect.yieldNow()
            running--
            runningPerGuest.set(guest, mine - 1)
            return index
          })
          tickets.push(yield* queue.enqueue(makeVmid(100 + guest), kind, job))
        }
        const exits = yield* Effect.forEach(tickets, Effect.exit)

        expect(guestOverlaps).toBe(0)
        expect(maxRunning).toBeLessThanOrEqual(concurrency)
        for (const started of startedPerGuest.values()) {
          expect(started).toEqual([...started].sort((a, b) => a - b))
        }
        exits.forEach((exit, index) => {
          const { guest, kind } = ops[index] ?? { guest: -1, kind: "ordered" }
          if (Exit.isSuccess(exit)) {
            expect(exit.value).toBe(index)
            return
          }
          // Only a reconcile with a newer reconcile for the same guest may be superseded.
          expect(Cause.failureOption(exit.cause)).toEqual(
            Option.some(new GuestQueueSuperseded({ vmid: makeVmid(100 + guest) }))
          )
          expect(kind).toBe("reconcile")
          expect(ops.slice(index + 1).some((later) => later.guest === guest && later.kind === "reconcile")).toBe(true)
        })
        expect(yield* queue.stats).toMatchObject({ queued: 0, running: 0 })
      }).pipe(Effect.provide(GuestQueue.layer({ concurrency }))),
    { fastCheck: { numRuns: 40 } }
  )
})
