/**
 * PVE tasks (pve-manager `PVE::API2::Tasks`): status, log and list rows. A task succeeded only when it has
 * stopped with `OK` or `WARNINGS: N`; every other exit status is a failure, including
 * "unexpected status", which a worker killed by a crash leaves behind (pve-common
 * `PVE::UPID::read_status`, `status_is_error`).
 */
import { Schema } from "effect"
import { UpidFields, UpidString } from "./Upid.js"

export const TaskState = Schema.Literal("running", "stopped")

export const TaskStatus = Schema.Struct({
  upid: UpidString,
  ...UpidFields,
  tokenid: Schema.optional(Schema.String),
  status: TaskState,
  exitstatus: Schema.optional(Schema.String)
})
export type TaskStatus = typeof TaskStatus.Type

const WARNINGS_RE = /^WARNINGS: \d+$/

export const isSuccessfulExit = (exitstatus: string): boolean => exitstatus === "OK" || WARNINGS_RE.test(exitstatus)

export const TaskLogLine = Schema.Struct({ n: Schema.Number, t: Schema.String })
export type TaskLogLine = typeof TaskLogLine.Type

export interface TaskLog {
  readonly lines: ReadonlyArray<TaskLogLine>
  readonly total: number
}

/** GET /nodes/{node}/tasks rows; running tasks have `status: "RUNNING"` and no `endtime`. */
export const TaskListEntry = Schema.Struct({
  upid: UpidString,
  ...UpidFields,
  // List rows are read leniently here: a row without `id` still lists.
  id: Schema.optional(Schema.String),
  tokenid: Schema.optional(Schema.String),
  status: Schema.optional(Schema.String),
  endtime: Schema.optional(Schema.Number)
})
export type TaskListEntry = typeof TaskListEntry.Type

export interface TaskFilter {
  readonly source?: "archive" | "active" | "all"
  readonly vmid?: number
  readonly typefilter?: string
  readonly userfilter?: string
  readonly statusfilter?: string
  readonly errors?: boolean
  /** Epoch seconds. */
  readonly since?: number
  readonly until?: number
  readonly start?: number
  readonly limit?: number
}
