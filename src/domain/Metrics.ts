/**
 * Metrics: the agent-wide metric definitions that have no better home, and the Prometheus text
 * exposition (format 0.0.4) of `Metric.snapshot`. Metrics owned by one service stay next to it
 * (GuestQueueMetrics: felhom_guest_queue_*, ReconcilerMetrics: felhom_reconcile_*, HubLoopMetrics:
 * felhom_hub_consecutive_failures, HubDesiredProvider: felhom_hub_desired_*); everything
 * lives in Effect's one global registry, so `/metrics` renders them all without a list here.
 *
 * Invariant: `renderPrometheus` emits each metric family once (one HELP, one TYPE), however many
 * label sets or registry entries carry that name — two definitions of one name that differ only
 * in description are two registry keys, and a duplicated family is a parse error for Prometheus.
 * We render by hand (about a page) rather than through OpenTelemetry, which drags in a pinned SDK
 * line and many peer packages; `Metric.snapshot` already holds everything the text needs.
 *
 * Just over 300 lines because it holds two halves of about a page each, the definitions and
 * their exposition, which the invariant above ties together.
 */
import { Effect, Metric, MetricBoundaries, MetricLabel, MetricState, Option } from "effect"
import type { MetricPair } from "effect"

const seconds = (start: number, count: number) => MetricBoundaries.exponential({ start, factor: 2, count })

export const AgentMetrics = {
  /** Every op the Engine finished, planned or signed, by action kind and outcome tag. */
  ops: Metric.counter("felhom_ops_total", {
    description: "Ops finished by the engine, by kind and outcome",
    incremental: true
  }),
  /** Time spent waiting for a PVE task (UPID) to stop, by task type and exit class. */
  taskWaitSeconds: Metric.histogram(
    "felhom_pve_task_wait_seconds",
    seconds(0.05, 14),
    "Time from a PVE task's UPID to its stopped status"
  ),
  /** Actions the reversibility gate refused, by reason (a short, bounded vocabulary). */
  gateRefusals: Metric.counter("felhom_gate_refusals_total", {
    description: "Actions refused by the reversibility gate, by reason",
    incremental: true
  }),
  nonceEntries: Metric.gauge("felhom_nonce_store_entries", {
    description: "Unexpired nonces kept for replay protection"
  }),
  nonceCapacity: Metric.gauge("felhom_nonce_store_capacity", {
    description: "Most nonces the store keeps before it refuses signed ops (fail closed)"
  }),
  /** Journal ops per phase that needs watching (intent, in-flight, needs-operator), sampled at each scrape. */
  journalOps: Metric.gauge("felhom_journal_ops", {
    description: "Ops in the journal that are unfinished (intent, in-flight) or wait for an operator, by phase"
  }),
  /** PVE API latency; `endpoint` is the templated path, never a concrete vmid or UPID. */
  pveRequestSeconds: Metric.histogram(
    "felhom_pve_request_seconds",
    seconds(0.005, 14),
    "PVE API request latency by method, templated endpoint and HTTP status"
  ),
  /** 1 once journal recovery finished and the agent serves; 0 before and while stopping. */
  ready: Metric.gauge("felhom_ready", { description: "1 when the agent is ready (journal recovered)" })
} as const

const label = (key: string, value: string) => MetricLabel.make(key, value)

/** Counts one finished op. `kind` is the Action tag, `outcome` the Outcome tag. */
export const recordOp = (kind: string, outcome: string): Effect.Effect<void> =>
  Metric.update(AgentMetrics.ops.pipe(Metric.taggedWithLabels([label("kind", kind), label("outcome", outcome)])), 1)

/** `exit` is "ok", "warnings" or "error": PVE exit statuses are free text, so they are classed. */
export const recordTaskWait = (
  taskType: string,
  exit: "ok" | "warnings" | "error",
  secondsWaited: number
): Effect.Effect<void> =>
  Metric.update(
    AgentMetrics.taskWaitSeconds.pipe(Metric.taggedWithLabels([label("type", taskType), label("exit", exit)])),
    secondsWaited
  )

export const recordGateRefusal = (reason: string): Effect.Effect<void> =>
  Metric.update(AgentMetrics.gateRefusals.pipe(Metric.tagged("reason", reason)), 1)

export const recordNonceFill = (fill: { readonly entries: number; readonly capacity: number }): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.set(AgentMetrics.nonceEntries, fill.entries),
    Metric.set(AgentMetrics.nonceCapacity, fill.capacity)
  )

const journalPhaseGauges = {
  "intent": AgentMetrics.journalOps.pipe(Metric.tagged("phase", "intent")),
  "in-flight": AgentMetrics.journalOps.pipe(Metric.tagged("phase", "in-flight")),
  "needs-operator": AgentMetrics.journalOps.pipe(Metric.tagged("phase", "needs-operator"))
} as const

/**
 * Sets every phase's gauge, zeros included: a phase with no ops is still a series, at 0, so the
 * dashboard shows "none" rather than "no data", and a missing series means a missing scrape.
 */
/** Ops per journal phase that needs watching (the journal's own counts, state/Journal.ts). */
export type JournalPhaseCounts = {
  readonly "intent": number
  readonly "in-flight": number
  readonly "needs-operator": number
}

export const recordJournalPhases = (counts: JournalPhaseCounts): Effect.Effect<void> =>
  Effect.all([
    Metric.set(journalPhaseGauges["intent"], counts["intent"]),
    Metric.set(journalPhaseGauges["in-flight"], counts["in-flight"]),
    Metric.set(journalPhaseGauges["needs-operator"], counts["needs-operator"])
  ], { discard: true })

/**
 * Turns a concrete PVE path into its route template so the label set stays bounded:
 * `/nodes/pve1/qemu/100/config` → `/nodes/{node}/qemu/{vmid}/config`,
 * `/nodes/pve1/tasks/UPID:…/status` → `/nodes/{node}/tasks/{upid}/status`.
 */
export const endpointTemplate = (path: string): string => {
  const clean = (path.split("?")[0] ?? "").replace(/^\/api2\/json/, "")
  const segments = clean.split("/")
  const out = segments.map((segment, i) => {
    const previous = i > 0 ? segments[i - 1] : undefined
    if (segment === "") return segment
    if (previous === "nodes") return "{node}"
    if ((previous === "qemu" || previous === "lxc") && /^\d+$/.test(segment)) return "{vmid}"
    if (previous === "tasks") return "{upid}"
    if (previous === "snapshot") return "{snapname}"
    if (previous === "storage") return "{storage}"
    if (/^\d+$/.test(segment) || segment.startsWith("UPID:")) return "{id}"
    return segment
  })
  return out.join("/")
}

/**
 * Records one PVE request; call it once per attempt with the HTTP status, or "error" when no
 * response arrived (transport failure, timeout). Templating happens here, so callers may pass
 * the concrete path.
 */
export const recordPveRequest = (
  method: string,
  path: string,
  status: number | "error",
  secondsTaken: number
): Effect.Effect<void> => recordPveRequestAt(method, endpointTemplate(path), status, secondsTaken)

/** As `recordPveRequest`, for a caller that already holds the template (the request's span does). */
export const recordPveRequestAt = (
  method: string,
  endpoint: string,
  status: number | "error",
  secondsTaken: number
): Effect.Effect<void> => Metric.update(pveRequestMetric(method, endpoint, String(status)), secondsTaken)

/**
 * The tagged histogram per label set, built once: a fresh label array per request made Effect
 * look the metric up anew every time (measured as a visible share of the client's CPU). The
 * label space is bounded (route templates × methods × statuses), so the map is too.
 */
const pveRequestMetrics = new Map<string, typeof AgentMetrics.pveRequestSeconds>()
const pveRequestMetric = (method: string, endpoint: string, status: string) => {
  const key = `${method} ${endpoint} ${status}`
  const known = pveRequestMetrics.get(key)
  if (known !== undefined) return known
  const metric = AgentMetrics.pveRequestSeconds.pipe(
    Metric.taggedWithLabels([label("method", method), label("endpoint", endpoint), label("status", status)])
  )
  pveRequestMetrics.set(key, metric)
  return metric
}

// ---------------------------------------------------------------------------------------------
// Prometheus text exposition format 0.0.4

type Sample = {
  readonly suffix: string
  readonly labels: ReadonlyArray<readonly [string, string]>
  readonly value: number | bigint
}
type Family = {
  name: string
  type: "counter" | "gauge" | "histogram" | "summary"
  help: string
  samples: Array<Sample>
}

const sanitizeName = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[a-zA-Z_:]/.test(cleaned) ? cleaned : `_${cleaned}`
}
const sanitizeLabel = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_]/g, "_")
  return /^[a-zA-Z_]/.test(cleaned) && !cleaned.startsWith("__") ? cleaned : `_${cleaned.replace(/^_+/, "")}`
}
const escapeLabelValue = (value: string): string =>
  value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, "\\\"")
const escapeHelp = (help: string): string => help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

/** Prometheus floats: `+Inf`, `-Inf`, `NaN`; integers stay exact (bigint counters too). */
export const formatValue = (value: number | bigint): string => {
  if (typeof value === "bigint") return value.toString()
  if (Number.isNaN(value)) return "NaN"
  if (value === Number.POSITIVE_INFINITY) return "+Inf"
  if (value === Number.NEGATIVE_INFINITY) return "-Inf"
  return String(value)
}

const renderLabels = (labels: ReadonlyArray<readonly [string, string]>): string =>
  labels.length === 0 ? "" : `{${labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`

const samplesOf = (
  state: MetricState.MetricState.Untyped,
  labels: ReadonlyArray<readonly [string, string]>
): { readonly type: Family["type"]; readonly samples: ReadonlyArray<Sample> } | undefined => {
  if (MetricState.isCounterState(state)) {
    return { type: "counter", samples: [{ suffix: "", labels, value: state.count }] }
  }
  if (MetricState.isGaugeState(state)) return { type: "gauge", samples: [{ suffix: "", labels, value: state.value }] }
  if (MetricState.isHistogramState(state)) {
    // Effect's buckets are already cumulative and end with an Infinity boundary; Prometheus wants
    // exactly one `+Inf` bucket equal to `_count`, so the finite ones are kept and `+Inf` added.
    const finite = state.buckets.filter(([le]) => Number.isFinite(le))
    return {
      type: "histogram",
      samples: [
        ...finite.map(([le, n]): Sample => ({
          suffix: "_bucket",
          labels: [...labels, ["le", formatValue(le)]],
          value: n
        })),
        { suffix: "_bucket", labels: [...labels, ["le", "+Inf"]], value: state.count },
        { suffix: "_sum", labels, value: state.sum },
        { suffix: "_count", labels, value: state.count }
      ]
    }
  }
  if (MetricState.isSummaryState(state)) {
    return {
      type: "summary",
      samples: [
        ...state.quantiles.flatMap(([q, v]): Array<Sample> =>
          Option.isSome(v) ? [{ suffix: "", labels: [...labels, ["quantile", formatValue(q)]], value: v.value }] : []
        ),
        { suffix: "_sum", labels, value: state.sum },
        { suffix: "_count", labels, value: state.count }
      ]
    }
  }
  if (MetricState.isFrequencyState(state)) {
    // A frequency is a counter per observed string; the string becomes a `key` label.
    return {
      type: "counter",
      samples: [...state.occurrences.entries()].map(([key, n]): Sample => ({
        suffix: "",
        labels: [...labels, ["key", key]],
        value: n
      }))
    }
  }
  return undefined
}

/** Renders a `Metric.snapshot` as Prometheus text (version 0.0.4), families sorted by name. */
export const renderPrometheus = (snapshot: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, Family>()
  for (const pair of snapshot) {
    const key = pair.metricKey
    const labels = key.tags.map((tag): readonly [string, string] => [sanitizeLabel(tag.key), tag.value])
    const rendered = samplesOf(pair.metricState, labels)
    if (rendered === undefined) continue
    const base = sanitizeName(key.name)
    // A counter family is named without `_total` in TYPE/HELP only in OpenMetrics; in 0.0.4
    // the family name is the sample name, so keep it as defined.
    const existing = families.get(base)
    if (existing === undefined) {
      families.set(base, {
        name: base,
        type: rendered.type,
        help: Option.getOrElse(key.description, () => base),
        samples: [...rendered.samples]
      })
    } else if (existing.type === rendered.type) {
      existing.samples.push(...rendered.samples)
    }
    // Same name, different type: a definition bug; the first one wins rather than emit invalid text.
  }
  const lines: Array<string> = []
  for (const family of [...families.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`)
    lines.push(`# TYPE ${family.name} ${family.type}`)
    const seen = new Set<string>()
    for (const sample of family.samples) {
      const line = `${family.name}${sample.suffix}${renderLabels(sample.labels)}`
      // Two registry keys with identical name and labels (differing descriptions): keep one.
      if (seen.has(line)) continue
      seen.add(line)
      lines.push(`${line} ${formatValue(sample.value)}`)
    }
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`
}

/**
 * The agent's own series from the global registry, as Prometheus text. Effect keeps runtime
 * counters of its own there (`effect_fiber_failures`, counting every fiber that ended in a
 * failure, handled or not); exported beside ours they read like alarms, so only `felhom_*`
 * families are served.
 */
export const prometheusText: Effect.Effect<string> = Effect.map(
  Metric.snapshot,
  (snapshot) => renderPrometheus(snapshot.filter((pair) => pair.metricKey.name.startsWith("felhom_")))
)
