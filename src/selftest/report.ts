/**
 * The selftest report: one value, rendered as Markdown for people and as JSON for machines,
 * with the same content. It never contains the token secret (docs/architecture.md, invariant 8): only
 * the token's id, which PVE also writes into every UPID.
 */
import type { MissingPrivilege } from "./preflight.js"
import type { StepRecord, TaskName } from "./steps.js"

export type Verdict = "pass" | "fail" | "refused"

export interface TaskResult {
  readonly task: TaskName
  readonly status: "passed" | "failed" | "skipped"
  readonly reason?: string | undefined
}

export interface GuestSummary {
  readonly vmid: number
  readonly node: string
  readonly type: "qemu" | "lxc"
  readonly name?: string | undefined
  readonly status?: string | undefined
  readonly tags?: string | undefined
}

export interface SelftestReport {
  readonly verdict: Verdict
  /** Why the run failed or was refused; absent on pass. */
  readonly reason?: string | undefined
  readonly startedAt: string
  readonly finishedAt: string
  readonly durationMs: number
  readonly tokenUser: string
  readonly pveVersion?: string | undefined
  readonly vmid: number
  readonly guest?: GuestSummary | undefined
  readonly selected: ReadonlyArray<TaskName>
  readonly tasks: ReadonlyArray<TaskResult>
  readonly missingPrivileges: ReadonlyArray<MissingPrivilege>
  readonly steps: ReadonlyArray<StepRecord>
  readonly cleanup: ReadonlyArray<StepRecord>
}

/**
 * The report of a run however far it got: a selected task the run never reached is skipped,
 * for the reason the run ended.
 */
export const reportOf = (run: {
  readonly verdict: Verdict
  readonly reason: string | undefined
  readonly started: Date
  /** ms epoch */
  readonly finished: number
  readonly tokenUser: string
  readonly pveVersion: string | undefined
  readonly vmid: number
  readonly guest: GuestSummary | undefined
  readonly selected: ReadonlyArray<TaskName>
  /** The tasks the run reached, in the order it reached them. */
  readonly done: ReadonlyArray<TaskResult>
  readonly missingPrivileges: ReadonlyArray<MissingPrivilege>
  /** Every step recorded, cleanup steps among them. */
  readonly steps: ReadonlyArray<StepRecord>
}): SelftestReport => {
  const doneNames = new Set(run.done.map((t) => t.task))
  return {
    verdict: run.verdict,
    reason: run.reason,
    startedAt: run.started.toISOString(),
    finishedAt: new Date(run.finished).toISOString(),
    durationMs: run.finished - run.started.getTime(),
    tokenUser: run.tokenUser,
    pveVersion: run.pveVersion,
    vmid: run.vmid,
    guest: run.guest,
    selected: run.selected,
    tasks: [
      ...run.done,
      ...run.selected.filter((t) => !doneNames.has(t)).map((task): TaskResult => ({
        task,
        status: "skipped",
        reason: run.reason ?? "not run"
      }))
    ],
    missingPrivileges: run.missingPrivileges,
    steps: run.steps.filter((s) => !s.cleanup),
    cleanup: run.steps.filter((s) => s.cleanup)
  }
}

/** A table cell: one line, pipes escaped. */
const cell = (
  s: string | undefined
): string => (s === undefined || s === "" ? "—" : s.replace(/\r?\n/g, " ").replaceAll("|", "\\|"))

const stepTable = (steps: ReadonlyArray<StepRecord>): Array<string> => [
  "| # | task | step | result | UPID | exit status | ms | detail |",
  "|---|---|---|---|---|---|---|---|",
  ...steps.map((s, i) =>
    `| ${i + 1} | ${cell(s.task)} | ${cell(s.step)} | ${s.ok ? "ok" : "**FAILED**"} | ${
      s.upid === undefined ? "—" : `\`${s.upid}\``
    } | ${cell(s.exitstatus)} | ${s.ms} | ${cell(s.detail)} |`
  )
]

const VERDICT_TEXT: Record<Verdict, string> = { pass: "PASS", fail: "FAIL", refused: "REFUSED" }

export const renderMarkdown = (r: SelftestReport): string => {
  const g = r.guest
  const lines: Array<string> = [
    `# felhom-agent selftest: ${VERDICT_TEXT[r.verdict]}`,
    "",
    ...(r.reason === undefined ? [] : [`**Reason:** ${r.reason}`, ""]),
    `- PVE version: ${r.pveVersion ?? "unknown"}`,
    g === undefined
      ? `- Guest: vmid ${r.vmid} (not found)`
      : `- Guest: vmid ${g.vmid}, node ${g.node}, type ${g.type}, name ${g.name ?? "—"}, status ${
        g.status ?? "—"
      }, tags ${g.tags ?? "—"}`,
    `- Token: ${r.tokenUser}`,
    `- Tasks selected: ${r.selected.join(", ")}`,
    `- Started ${r.startedAt}, finished ${r.finishedAt} (${r.durationMs} ms)`,
    "",
    "## Tasks",
    "",
    ...r.tasks.map((t) => `- ${t.task}: ${t.status}${t.reason === undefined ? "" : ` — ${t.reason}`}`),
    ""
  ]
  if (r.missingPrivileges.length > 0) {
    lines.push(
      "## Missing privileges",
      "",
      ...r.missingPrivileges.map((m) => `- ${m.privilege} on ${m.path} (${m.task}: ${m.why})`),
      ""
    )
  }
  lines.push("## Steps", "", ...stepTable(r.steps), "", "## Cleanup", "")
  if (r.cleanup.length === 0) lines.push("No cleanup was needed: no step failed.")
  else lines.push(...stepTable(r.cleanup))
  lines.push("", `Verdict: **${VERDICT_TEXT[r.verdict]}**`, "")
  return lines.join("\n")
}

export const renderJson = (r: SelftestReport): string => JSON.stringify(r, null, 2)
