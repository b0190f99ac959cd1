/**
 * `felhom-agent selftest --vmid N [--task permissions|snapshot|config|all] [--report FILE]
 * [--json] [--confirm]`: reversible live exercises of a designated test guest (Selftest.ts).
 * The report is written (Markdown) before the exit code is decided, so a failed run still
 * leaves its evidence; stdout carries the same report, as JSON with `--json`. Exit 0 only
 * when every selected task passed.
 */
import { Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Data, Effect, Option } from "effect"
import { selftestRequest } from "../app/requests.js"
import { VmidFromString } from "../domain/Vmid.js"
import { SELFTEST_TAG } from "../selftest/Selftest.js"
import { runActing, waitOption, writerLayer } from "./acting.js"
import { connectionOptions } from "./connection.js"
import { jsonOption, stateOptions, stderrLogger } from "./state.js"

export class ReportUnwritable extends Data.TaggedError("ReportUnwritable")<{ readonly path: string; readonly reason: string }> {
  override get message(): string {
    return `cannot write the selftest report ${this.path}: ${this.reason}`
  }
}

export const selftestOptions = {
  vmid: Options.text("vmid").pipe(Options.withSchema(VmidFromString), Options.withDescription("the test guest's vmid")),
  task: Options.choice("task", ["permissions", "snapshot", "config", "all"] as const).pipe(
    Options.withDefault("all" as const),
    Options.withDescription("which exercise to run (default all); permissions only checks the token's privileges")
  ),
  report: Options.file("report").pipe(Options.optional, Options.withDescription("write the Markdown report to this file")),
  confirm: Options.boolean("confirm").pipe(
    Options.withDescription(`run on a guest without the '${SELFTEST_TAG}' tag (it is changed and put back)`)
  )
}

export const selftestCommand = Command.make(
  "selftest",
  { ...connectionOptions, ...stateOptions, ...selftestOptions, json: jsonOption, wait: waitOption },
  (flags) =>
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
    }).pipe(Effect.provide(stderrLogger))
).pipe(Command.withDescription(
  `exercise a test guest (tag '${SELFTEST_TAG}' or --confirm) reversibly: permissions, snapshot, config; exit 0 only if all pass`
))
