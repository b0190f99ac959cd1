/**
 * Task endpoints (pve-manager `PVE::API2::Tasks` `read_task_status`, `read_task_log`,
 * `node_tasks`): status (no `endtime`, `exitstatus` only when
 * stopped, token user split into user + tokenid), log with `total` and default limit 50,
 * and the node task list whose default `source` is `archive` (finished tasks only).
 * A token sees its own tasks; others need Sys.Audit on /nodes/N.
 */
import { Either } from "effect"
import { parseUpid, upidParts } from "../../domain/Upid.js"
import { effectivePrivs } from "../Access.js"
import { boolSpec, intSpec, nodeSpec, type Schema, strSpec, vmidSpec } from "../Params.js"
import { ok, paramFail, permFail, type Reply } from "../Reply.js"
import type { TaskRecord } from "../Tasks.js"
import { type Check, check, type Ctx, uriNode } from "./Context.js"
import { unknownNode } from "./Lists.js"

const mayRead = (ctx: Ctx, t: TaskRecord): boolean =>
  t.user === ctx.token.tokenid || effectivePrivs(ctx.token, `/nodes/${t.node}`).has("Sys.Audit")

const findTask = (ctx: Ctx): Check<TaskRecord> => {
  const raw = ctx.uri["upid"] ?? ""
  if (Either.isLeft(parseUpid(raw))) return Either.left(paramFail({ upid: "unable to parse worker upid" }))
  const t = ctx.cluster.tasks.byUpid.get(raw)
  if (t === undefined || t.node !== uriNode(ctx)) return Either.left(paramFail({ upid: "no such task" }))
  if (!mayRead(ctx, t)) return Either.left(permFail(`/nodes/${t.node}, Sys.Audit`))
  return Either.right(t)
}

const userFields = (user: string): Record<string, string> => {
  const i = user.indexOf("!")
  return i < 0 ? { user } : { user: user.slice(0, i), tokenid: user.slice(i + 1) }
}

/** Parameters, then the task: who may read it is decided per task, not by one privilege up front. */
const taskRequest = (
  ctx: Ctx,
  schema: Schema
): Check<{ readonly values: Record<string, string>; readonly task: TaskRecord }> =>
  Either.gen(function*() {
    const values = yield* check(ctx, schema)
    const task = yield* findTask(ctx)
    return { values, task }
  })

export const getTaskStatus = (ctx: Ctx): Reply =>
  Either.merge(Either.map(taskRequest(ctx, { node: nodeSpec, upid: strSpec() }), ({ task: t }) =>
    ok({
      upid: t.upid,
      ...upidParts(t),
      ...userFields(t.user),
      status: t.status,
      ...(t.status === "stopped" ? { exitstatus: t.exitstatus } : {})
    })))

export const getTaskLog = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const schema = { node: nodeSpec, upid: strSpec(), start: intSpec(0), limit: intSpec(0), download: boolSpec }
    const { values, task } = yield* taskRequest(ctx, schema)
    const lines = task.log.length === 0 ? ["no content"] : task.log
    const start = Number(values["start"] ?? "0")
    const limit = Number(values["limit"] ?? "50")
    const slice = lines.slice(start, limit === 0 ? undefined : start + limit)
    return ok(slice.map((t, i) => ({ n: start + i + 1, t })), lines.length)
  }))

const statusClass = (t: TaskRecord): string =>
  t.exitstatus === "OK" ? "ok" : /^WARNINGS: \d+$/.test(t.exitstatus ?? "") ? "warning" : "error"

export const listTasks = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const p = yield* check(ctx, {
      node: nodeSpec,
      source: { type: "string", enum: ["archive", "active", "all"] },
      vmid: vmidSpec,
      typefilter: strSpec(),
      userfilter: strSpec(),
      statusfilter: { type: "string", list: true },
      errors: boolSpec,
      since: intSpec(0),
      until: intSpec(0),
      start: intSpec(0),
      limit: intSpec(0)
    })
    const node = uriNode(ctx)
    if (!ctx.cluster.nodes.includes(node)) return unknownNode(node)
    const source = p["source"] ?? "archive"
    const statuses = p["statusfilter"]?.split(",").filter((s) => s !== "")
    const seeAll = effectivePrivs(ctx.token, `/nodes/${node}`).has("Sys.Audit")
    const rows: Array<Record<string, unknown>> = []
    for (let i = ctx.cluster.tasks.all.length - 1; i >= 0; i--) {
      const t = ctx.cluster.tasks.all[i]
      if (t === undefined || t.node !== node) continue
      if (!seeAll && t.user !== ctx.token.tokenid) continue
      if (source === "archive" && t.status === "running") continue
      if (source === "active" && t.status === "stopped") continue
      if (p["vmid"] !== undefined && t.id !== p["vmid"]) continue
      if (p["typefilter"] !== undefined && t.type !== p["typefilter"]) continue
      if (p["userfilter"] !== undefined && !t.user.includes(p["userfilter"])) continue
      if (p["since"] !== undefined && t.starttime < Number(p["since"])) continue
      if (p["until"] !== undefined && t.starttime > Number(p["until"])) continue
      if (p["errors"] === "1" && (t.status === "running" || t.exitstatus === "OK")) continue
      if (
        statuses !== undefined && statuses.length > 0 && (t.status === "running" || !statuses.includes(statusClass(t)))
      ) continue
      rows.push({
        upid: t.upid,
        ...upidParts(t),
        status: t.status === "running" ? "RUNNING" : t.exitstatus,
        ...(t.endtime === undefined ? {} : { endtime: t.endtime })
      })
    }
    const start = Number(p["start"] ?? "0")
    const limit = Number(p["limit"] ?? "50")
    return ok(rows.slice(start, limit === 0 ? undefined : start + limit), rows.length)
  }))
