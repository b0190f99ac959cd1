/**
 * Waiting on a PVE task. PVE answers most mutations with a UPID at once and does the work in a
 * forked worker (pve-common `PVE::RESTEnvironment::fork_worker`), so the outcome is only known
 * from the task's status (pve-common `PVE::UPID::read_status`). Polls
 * start at 50 ms and double up to 1 s: short tasks are seen within tens of milliseconds, long
 * ones cost no more requests than a fixed 1 s poll. Success is `OK` or `WARNINGS: N` only.
 */
import { Clock, Duration, Effect, Schedule } from "effect"
import { recordTaskWait } from "../domain/Metrics.js"
import { isSuccessfulExit, type TaskStatus } from "../domain/Task.js"
import type { UpidString } from "../domain/Upid.js"
import { isTransient, type PveError, PveTaskFailed, PveTimeout } from "./PveError.js"

/** 50 ms, 100 ms, 200 ms, … capped at 1 s: between polls, and between retries of one poll. */
const pollDelays = Schedule.exponential("50 millis", 2).pipe(Schedule.union(Schedule.spaced("1 second")))

/** Polls until the task stopped, answering its last status. */
const untilStopped = Schedule.identity<TaskStatus>().pipe(
  Schedule.zipLeft(pollDelays),
  Schedule.untilInput((status) => status.status === "stopped")
)

export const waitTask = (
  taskStatus: (upid: UpidString) => Effect.Effect<TaskStatus, PveError>,
  upid: UpidString,
  deadline: Duration.DurationInput
): Effect.Effect<TaskStatus, PveError | PveTaskFailed> => {
  const poll = taskStatus(upid).pipe(Effect.retry({ schedule: pollDelays, while: isTransient }))
  const timed = Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const status = yield* Effect.repeat(poll, untilStopped)
    const exit = status.exitstatus ?? "unexpected status"
    const kind = exit === "OK" ? "ok" : isSuccessfulExit(exit) ? "warnings" : "error"
    yield* recordTaskWait(status.type, kind, ((yield* Clock.currentTimeMillis) - started) / 1000)
    return status
  })
  return timed.pipe(
    Effect.timeoutFail({
      duration: deadline,
      onTimeout: () =>
        new PveTimeout({
          operation: `waiting for task ${upid}`,
          afterMillis: Duration.toMillis(Duration.decode(deadline))
        })
    }),
    Effect.flatMap((status) => {
      const exit = status.exitstatus ?? "unexpected status"
      return isSuccessfulExit(exit)
        ? Effect.succeed(status)
        : Effect.fail(new PveTaskFailed({ upid, exitstatus: exit }))
    }),
    Effect.tap((status) => Effect.annotateCurrentSpan("pve.task.exitstatus", status.exitstatus ?? "")),
    // Its polls are "pve.request" children, so a slow task shows as the requests it took.
    Effect.withSpan("pve.task.wait", { attributes: { upid } })
  )
}
