/**
 * `felhom-agent selftest --vmid N [--task permissions|snapshot|config|all] [--report FILE]
 * [--json] [--confirm]`: reversible live exercises of a designated test guest (Selftest.ts).
 * The report is written (Markdown) before the exit code is decided, so a failed run still
 * leaves its evidence; stdout carries the same report, as JSON with `--json`. Exit 0 only
 * when every selected task passed.
 */
import { Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Console, Data, Effect, Layer, Option } from "effect"
import { VmidFromString } from "../domain/Vmid.js"
import { Pve } from "../pve/Pve.js"
import { PveConnection } from "../pve/PveConnection.js"
import { renderJson, renderMarkdown } from "../selftest/report.js"
import { Selftest, SELFTEST_TAG } from "../selftest/Selftest.js"
import { type ConnectionFlags, connectionLayer, connectionOptions } from "./connection.js"
import { setExitCode } from "./run.js"
import { journalLayer, jsonOption, stateOptions, stderrLogger } from "./state.js"

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

/** Selftest over the PVE client and the journal, journaling ops under the token's id. */
export const selftestLayer = (flags: ConnectionFlags, stateDir: string) => {
  // One connection layer value, so the token file is read once (layers memoize by reference).
  const connection = connectionLayer(flags)
  return Layer.unwrapEffect(Effect.map(PveConnection, (s) => Selftest.layer({ tokenUser: s.token.tokenId }))).pipe(
    Layer.provide(connection),
    Layer.provide(Layer.merge(Pve.layer.pipe(Layer.provide(connection)), journalLayer(stateDir)))
  )
}

export const selftestCommand = Command.make(
  "selftest",
  { ...connectionOptions, ...stateOptions, ...selftestOptions, json: jsonOption },
  (flags) =>
    Effect.gen(function*() {
      const report = yield* Effect.flatMap(Selftest, (s) => s.run({ vmid: flags.vmid, task: flags.task, confirm: flags.confirm })).pipe(
        Effect.provide(selftestLayer(flags, flags.stateDir))
      )
      if (Option.isSome(flags.report)) {
        const path = flags.report.value
        const fs = yield* FileSystem.FileSystem
        yield* fs.writeFileString(path, renderMarkdown(report)).pipe(
          Effect.mapError((e) => new ReportUnwritable({ path, reason: e.message }))
        )
      }
      yield* Console.log(flags.json ? renderJson(report) : renderMarkdown(report))
      yield* setExitCode(report.verdict === "pass" ? 0 : 1)
    }).pipe(Effect.provide(stderrLogger))
).pipe(Command.withDescription(
  `exercise a test guest (tag '${SELFTEST_TAG}' or --confirm) reversibly: permissions, snapshot, config; exit 0 only if all pass`
))
