/**
 * Help as an operator sees it when stdout is a pipe (a real process: whether stdout is a
 * terminal is the process's own): no colour, wrapped to 80 columns or COLUMNS, a real
 * description per option naming its env variable, repeatable options shown as optional.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli } from "../support/cli.js"

describe("help fits a terminal", () => {
  it.live(
    "piped: no colour, wrapped to 80 columns (or COLUMNS), one real description per option with its env variable",
    () =>
      Effect.gen(function*() {
        const piped = yield* runCli(["apply", "--help"], {})
        expect(piped.code).toBe(0)
        expect(piped.stdout).not.toContain("\u001b[")
        expect(piped.stdout).not.toContain("A user-defined piece of text.")
        expect(piped.stdout).not.toContain("This option can be set from environment variables.")
        for (const line of piped.stdout.split("\n")) expect(line.length, line).toBeLessThanOrEqual(80)
        // apply needs the connection only when no daemon runs; the help says so, and where it comes from.
        expect(piped.stdout.replace(/\s+/g, " ")).toContain(
          "PVE API base URL, e.g. https://pve1:8006; only without a running daemon (env FELHOM_PVE_URL)"
        )
        const plan = yield* runCli(["plan", "--help"], {})
        expect(plan.stdout).toContain("PVE API base URL, e.g. https://pve1:8006 (env FELHOM_PVE_URL)")
        // An option that may be repeated zero or more times reads as optional.
        const sign = yield* runCli(["op", "sign", "--help"], {})
        const usage = sign.stdout.slice(sign.stdout.indexOf("$ sign"), sign.stdout.indexOf("DESCRIPTION")).replace(
          /\s+/g,
          " "
        )
        expect(usage).toContain("[--delete text]...")
        expect(usage).toContain("[--flag vmstate | start | force | force-stop]...")
        const narrow = yield* runCli(["apply", "--help"], { COLUMNS: "60" })
        for (const line of narrow.stdout.split("\n")) expect(line.length, line).toBeLessThanOrEqual(60)
      }),
    60_000
  )
})
