/**
 * `felhom-agent journal list [--json] [--limit N]` and `journal show OP_ID [--json]`: the op
 * journal of the state directory, read-only — what ran, when, with which task, how it ended.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Data, Effect } from "effect"
import { Journal } from "../state/Journal.js"
import type { OpRecord, PhaseEntry } from "../state/OpRecord.js"
import { journalLayer, jsonOption, stateOptions } from "./state.js"

const time = (ms: number): string => new Date(ms).toISOString()

const MAX_LIMIT = 10_000

export class JournalLimitInvalid extends Data.TaggedError("JournalLimitInvalid")<{ readonly limit: number }> {
  override get message(): string {
    return `--limit must be between 1 and ${MAX_LIMIT}, got ${this.limit}`
  }
}

const table = (ops: ReadonlyArray<OpRecord>): string => {
  if (ops.length === 0) return "The journal is empty."
  const rows = [
    ["OP", "PHASE", "VMID", "ACTION", "TRY", "INTENT", "DETAIL"],
    ...ops.map((o) => [o.opId.slice(0, 12), o.phase, String(o.vmid), o.action, String(o.attempt), time(o.intentAt), o.detail?.message ?? ""])
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
      const extra = [h.upid ?? "", h.detail?.exitstatus === undefined ? "" : `exit ${h.detail.exitstatus}`, h.detail?.message ?? ""]
      return `  ${time(h.at)}  ${h.phase.padEnd(14)} ${extra.filter((x) => x !== "").join("  ")}`
    })
  ].join("\n")

const listCommand = Command.make(
  "list",
  {
    ...stateOptions,
    json: jsonOption,
    limit: Options.integer("limit").pipe(Options.withDefault(50), Options.withDescription(`newest N ops, 1 to ${MAX_LIMIT} (default 50)`))
  },
  (flags) =>
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
).pipe(Command.withDescription("list journaled ops, newest first"))

const showCommand = Command.make(
  "show",
  { ...stateOptions, json: jsonOption, opId: Args.text({ name: "OP_ID" }).pipe(Args.withDescription("an op id, or any unique prefix of one (as journal list prints them)")) },
  (flags) =>
    Effect.gen(function*() {
      const journal = yield* Journal
      const op = yield* journal.resolve(flags.opId)
      const history = yield* journal.history(op.opId)
      yield* Console.log(flags.json ? JSON.stringify({ op, history }, null, 2) : details(op, history))
    }).pipe(Effect.provide(journalLayer(flags.stateDir)))
).pipe(Command.withDescription("one op with its phase history"))

export const journalCommand = Command.make("journal").pipe(
  Command.withDescription("inspect the op journal"),
  Command.withSubcommands([listCommand, showCommand])
)
