/**
 * One GuestQueue worker: a fiber that serves the next ready lane's head job, puts the lane back,
 * and parks when no lane is ready. `concurrency` of them make the global bound.
 *
 * A job runs on the worker fiber itself, with the submitter's context (captured at submit): no
 * fiber per job. Each job runs inside one `matchCauseEffect` frame whose handlers finish it and
 * return the next job's frame directly: no loop frames, no closures and no extra fiber op per
 * job. A job's failure, defect or self-interruption lands in its result, never in the worker.
 */
import { Effect, Fiber, FiberRef } from "effect"
import type { Cause } from "effect"
import type { GuestJob } from "./GuestJob.js"
import type { GuestLane } from "./GuestLane.js"
import type { GuestQueueLanes } from "./GuestQueueLanes.js"

/** `interrupt` jobs get a child fiber, so their submitter can stop them, not the worker. */
const runInChild = (job: GuestJob): Effect.Effect<unknown, unknown> =>
  Effect.flatMap(Effect.fork(job.effect), (fiber) => {
    job.stop = Effect.asVoid(Fiber.interrupt(fiber))
    return Effect.flatMap(job.interruptRequested ? Fiber.interrupt(fiber) : Fiber.await(fiber), (exit) => exit)
  })

export const makeWorker = (
  lanes: GuestQueueLanes,
  /** Forks the reaper of a lane that just went idle. */
  startReaper: (lane: GuestLane) => Effect.Effect<void>
): Effect.Effect<never> =>
  Effect.withFiberRuntime((fiber) => {
    let lane: GuestLane | undefined
    const serveNext = (): Effect.Effect<never> => {
      for (;;) {
        const candidate = lanes.takeReady()
        if (candidate === undefined) return afterPark
        const job = lanes.start(candidate)
        if (job === undefined) {
          if (lanes.goIdle(candidate)) return Effect.zipRight(startReaper(candidate), next)
          continue
        }
        lane = candidate
        // Not `Effect.provide` (an acquireUseRelease per job): the worker switches its context
        // only when the job's differs, so not at all for a run of jobs from one submitter.
        const run = Effect.matchCauseEffect(job.onInterrupt === "detach" ? job.effect : runInChild(job), handlers)
        return fiber.currentContext === job.context
          ? run
          : Effect.zipRight(FiberRef.set(FiberRef.currentContext, job.context), run)
      }
    }
    const done = (value: unknown, cause: Cause.Cause<unknown> | undefined): Effect.Effect<never> => {
      const served = lane
      const job = served?.current
      lane = undefined
      if (served === undefined || job === undefined) return Effect.dieMessage("GuestQueue worker lost its job")
      return lanes.finish(served, job, value, cause) ? Effect.zipRight(startReaper(served), next) : serveNext()
    }
    const handlers = {
      onFailure: (cause: Cause.Cause<unknown>) => done(undefined, cause),
      onSuccess: (value: unknown) => done(value, undefined)
    }
    const next = Effect.suspend(serveNext)
    const afterPark = Effect.zipRight(lanes.park, next)
    return serveNext()
  })
