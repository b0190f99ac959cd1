/**
 * `felhom-agent journal list [--json] [--limit N]` and `journal show OP_ID [--json]`: the op
 * journal of the state directory, read-only — what ran, when, with which task, how it ended.
 */
import { Console, Data, Effect } from "effect"
import { StoresLive } from "../app/Stores.js"
import { Journal } from "../state/Journal.js"
import type { OpRecord, PhaseEntry } from "../state/OpRecord.js"
import { type ListFlags, MAX_LIMIT, type ShowFlags } from "./commands/journal.js"

const time = (ms: number): string => new Date(ms).toISOString()

/** The journal over `<stateDir>/state.db`, for reading: no lock, so it works beside a writer. */
export const journalLayer = (stateDir: string) => StoresLive({ stateDir })

export class JournalLimitInvalid extends Data.TaggedError("JournalLimitInvalid")<{ readonly limit: number }> {
  override get message(): string {
    return `--limit must be between 1 and ${MAX_LIMIT}, got ${this.limit}`
  }
}

const table = (ops: ReadonlyArray<OpRecord>): string => {
  if (ops.length === 0) return "The journal is empty."
  const rows = [
    ["OP", "PHASE", "VMID", "ACTION", "TRY", "INTENT", "DETAIL"],
    ...ops.map((
      o
    ) => [
      o.opId.slice(0, 12),
      o.phase,
      String(o.vmid),
      o.action,
      String(o.attempt),
      time(o.intentAt),
      o.detail?.message ?? ""
    ])
  ]
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? []
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd()).join("\n")
}

const details = (op: OpRecord, history: ReadonlyArray<PhaseEntry>): string =>
  [
    `op        ${op.opId}`,
    `guest     ${op.guestType}/${op.vmid} on ${op.node}`,
    `action    ${op.action}  params ${JSON.stringify(op.params)}`,
    `origin    ${op.origin}  attempt ${op.attempt}  token ${op.tokenUser}`,
    `phase     ${op.phase}${op.upid === null ? "" : `  task ${op.upid}`}`,
    `pre-state ${JSON.stringify(op.preState)}  digest ${op.preDigest ?? "-"}`,
    `inverse   ${op.inverse === null ? "(none recorded)" : JSON.stringify(op.inverse)}`,
    "history:",
    ...history.map((h) => {
      const extra = [
        h.upid ?? "",
        h.detail?.exitstatus === undefined ? "" : `exit ${h.detail.exitstatus}`,
        h.detail?.message ?? ""
      ]
      return `  ${time(h.at)}  ${h.phase.padEnd(14)} ${extra.filter((x) => x !== "").join("  ")}`
    })
  ].join("\n")

/** The body of `felhom-agent journal list` (commands/journal.ts). */
export const listHandler = (flags: ListFlags) =>
  Effect.gen(function*() {
    // Checked before the journal is opened: a bad flag is the answer, whatever the state dir.
    if (!Number.isInteger(flags.limit) || flags.limit < 1 || flags.limit > MAX_LIMIT) {
      return yield* new JournalLimitInvalid({ limit: flags.limit })
    }
    const ops = yield* Effect.flatMap(Journal, (j) => j.list({ limit: flags.limit })).pipe(
      Effect.provide(journalLayer(flags.stateDir))
    )
    yield* Console.log(flags.json ? JSON.stringify(ops, null, 2) : table(ops))
  })

/** The body of `felhom-agent journal show` (commands/journal.ts). */
export const showHandler = (flags: ShowFlags) =>
  Effect.gen(function*() {
    const journal = yield* Journal
    const op = yield* journal.resolve(flags.opId)
    const history = yield* journal.history(op.opId)
    yield* Console.log(flags.json ? JSON.stringify({ op, history }, null, 2) : details(op, history))
  }).pipe(Effect.provide(journalLayer(flags.stateDir)))
