/**
 * `felhom-agent selftest --vmid N [--task permissions|snapshot|config|all] [--report FILE]
 * [--json] [--confirm]`: reversible live exercises of a designated test guest (Selftest.ts).
 * The report is written (Markdown) before the exit code is decided, so a failed run still
 * leaves its evidence; stdout carries the same report, as JSON with `--json`. Exit 0 only
 * when every selected task passed.
 */
import { FileSystem } from "@effect/platform"
import { Data, Effect, Option } from "effect"
import { selftestRequest } from "../app/requests.js"
import { runActing, writerLayer } from "./acting.js"
import type { SelftestFlags } from "./commands/selftest.js"

export class ReportUnwritable
  extends Data.TaggedError("ReportUnwritable")<{ readonly path: string; readonly reason: string }>
{
  override get message(): string {
    return `cannot write the selftest report ${this.path}: ${this.reason}`
  }
}

/** The body of `felhom-agent selftest` (commands/selftest.ts). */
export const selftestHandler = (flags: SelftestFlags) =>
  runActing({
    stateDir: flags.stateDir,
    json: flags.json,
    request: { v: 1, command: "selftest", vmid: flags.vmid, task: flags.task, confirm: flags.confirm },
    local: selftestRequest({ vmid: flags.vmid, task: flags.task, confirm: flags.confirm }).pipe(
      Effect.provide(writerLayer(flags, { stateDir: flags.stateDir, command: "selftest", wait: flags.wait }))
    ),
    // Written before the exit code is decided: a failed run still leaves its evidence.
    alsoWrite: (output) =>
      Option.match(flags.report, {
        onNone: () => Effect.void,
        onSome: (path) =>
          Effect.flatMap(FileSystem.FileSystem, (fs) => fs.writeFileString(path, output.text)).pipe(
            Effect.mapError((e) => new ReportUnwritable({ path, reason: e.message }))
          )
      })
  })
