/** The metrics GuestQueue exports (felhom_guest_queue_*), and its cheap way to update them. */
import { Metric, MetricBoundaries, MetricLabel } from "effect"
import type { GuestJobKind, GuestJobOutcome } from "./GuestJob.js"

export const GuestQueueMetrics = {
  /** Jobs queued and not yet started, over all guests (a delta gauge, so instances add up). */
  queueDepth: Metric.gauge("felhom_guest_queue_depth", {
    description: "GuestQueue jobs queued and not yet started"
  }),
  waitSeconds: Metric.histogram(
    "felhom_guest_queue_wait_seconds",
    MetricBoundaries.exponential({ start: 0.001, factor: 4, count: 10 }),
    "Time from submit to start of a GuestQueue job"
  ),
  jobs: Metric.counter("felhom_guest_queue_jobs_total", {
    description: "GuestQueue jobs by kind and outcome",
    incremental: true
  })
} as const

// Effect caches a metric's hook per label array *identity* (a WeakMap): a fresh array per update
// misses and pays a registry lookup + MetricKey hash, ≈ 27 % of GuestQueue's time in the profile.
// So every label array is built once here. (`Metric.taggedWithLabels` does not help: it unions
// its labels into a new array on every update.)
const noLabels: ReadonlyArray<MetricLabel.MetricLabel> = []
const jobLabels = (kind: GuestJobKind) => {
  const labels = (outcome: GuestJobOutcome) => [MetricLabel.make("kind", kind), MetricLabel.make("outcome", outcome)]
  return {
    success: labels("success"),
    failure: labels("failure"),
    defect: labels("defect"),
    interrupted: labels("interrupted"),
    superseded: labels("superseded"),
    cancelled: labels("cancelled"),
    shutdown: labels("shutdown")
  } satisfies Record<GuestJobOutcome, ReadonlyArray<MetricLabel.MetricLabel>>
}
const jobsLabels = { reconcile: jobLabels("reconcile"), ordered: jobLabels("ordered") } as const

export const countJob = (kind: GuestJobKind, outcome: GuestJobOutcome): void =>
  GuestQueueMetrics.jobs.unsafeUpdate(1, jobsLabels[kind][outcome])

export const addQueueDepth = (delta: number): void => GuestQueueMetrics.queueDepth.unsafeModify(delta, noLabels)

export const recordWait = (millis: number): void => GuestQueueMetrics.waitSeconds.unsafeUpdate(millis / 1000, noLabels)
