/**
 * What every benchmark reports: a figure is one ratio of ours against a peer or a floor measured
 * in the same run (never an absolute time alone: the machine is shared, absolute figures move by
 * ±40 % between runs while side-by-side ratios hold), with its target when it has one. Repeated
 * measurements give the median and the spread of the per-round ratios. `scripts/bench.ts` prints
 * every figure in one table and writes them to bench-results.json.
 */

export interface Figure {
  /** The benchmark: queue, reconcile, taskwait, footprint. */
  readonly group: string
  /** What is compared, e.g. "GuestQueue c=1000 / Map of p-queues". */
  readonly name: string
  /** The quantity: "throughput", "wall vs bound", "calls / (1 + guests)", … */
  readonly metric: string
  /** Ours and the peer or floor, in `unit`; NaN where a figure is a count ratio only. */
  readonly ours: number
  readonly base: number
  readonly unit: string
  /** Median of the per-round ratios (ours / base); a single ratio when measured once. */
  readonly ratio: number
  readonly min?: number | undefined
  readonly max?: number | undefined
  readonly rounds?: number | undefined
  /** e.g. ">= 1.0", "<= 1.2", "= 1", "= 0"; absent when the figure has no target. */
  readonly target?: string | undefined
}

export const median = (xs: ReadonlyArray<number>): number => {
  const sorted = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2
}

/** A figure from per-round pairs: the ratio of each round, then their median and spread. */
export const fromRounds = (
  fields: Omit<Figure, "ours" | "base" | "ratio" | "min" | "max" | "rounds">,
  pairs: ReadonlyArray<readonly [ours: number, base: number]>
): Figure => {
  const ratios = pairs.map(([o, b]) => o / b)
  return {
    ...fields,
    ours: median(pairs.map(([o]) => o)),
    base: median(pairs.map(([, b]) => b)),
    ratio: median(ratios),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
    rounds: pairs.length
  }
}

/** Whether a figure meets its target; undefined when it has none or the ratio is not a number. */
export const verdict = (figure: Figure): boolean | undefined => {
  const m = /^(>=|<=|=)\s*([0-9.]+)$/.exec(figure.target ?? "")
  if (m === null || Number.isNaN(figure.ratio)) return undefined
  const bound = Number(m[2])
  // Ratios print with 2 decimals; "= 1" is an exact count ratio (calls), compared exactly.
  return m[1] === ">=" ? figure.ratio >= bound : m[1] === "<=" ? figure.ratio <= bound : figure.ratio === bound
}

export const fmtNumber = (n: number, unit: string): string => {
  if (Number.isNaN(n)) return "–"
  const digits = Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : Math.abs(n) >= 1 ? 2 : 3
  return `${n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 })}${
    unit === "" ? "" : ` ${unit}`
  }`
}

export const fmtRatio = (figure: Figure): string => {
  if (Number.isNaN(figure.ratio)) return "n/a"
  const spread = figure.min !== undefined && figure.max !== undefined && (figure.rounds ?? 1) > 1
    ? ` [${figure.min.toFixed(2)}–${figure.max.toFixed(2)}]`
    : ""
  return `${figure.ratio.toFixed(2)}×${spread}`
}

export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)))
  return rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join("  ").trimEnd()).join("\n")
}

/** The one table: figure, ours, base, ratio (median [min–max] over rounds), target, verdict. */
export const figuresTable = (figures: ReadonlyArray<Figure>): string =>
  table([
    ["group", "figure", "metric", "ours", "base", "ratio", "target", ""],
    ...figures.map((f) => {
      const ok = verdict(f)
      return [
        f.group,
        f.name,
        f.metric,
        fmtNumber(f.ours, f.unit),
        fmtNumber(f.base, f.unit),
        fmtRatio(f),
        f.target ?? "",
        ok === undefined ? "" : ok ? "met" : "MISSED"
      ]
    })
  ])
