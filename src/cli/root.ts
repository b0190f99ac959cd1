/**
 * The `felhom-agent` command tree: every command's name, options and help (commands/), read at
 * each start. What a command does is loaded only when it runs (lazy.ts).
 */
import { Command } from "@effect/cli"
import { applyCommand } from "./commands/apply.js"
import { configCommand } from "./commands/config.js"
import { daemonCommand } from "./commands/daemon.js"
import { guestsCommand } from "./commands/guests.js"
import { journalCommand } from "./commands/journal.js"
import { keysCommand, opCommand } from "./commands/op.js"
import { planCommand } from "./commands/plan.js"
import { revertCommand } from "./commands/revert.js"
import { selftestCommand } from "./commands/selftest.js"
import { simCommand } from "./commands/sim.js"
import { statusCommand } from "./commands/status.js"

export const rootCommand = Command.make("felhom-agent").pipe(
  Command.withDescription("keeps a Proxmox VE host's guests as a hub wants them"),
  Command.withSubcommands([
    daemonCommand,
    statusCommand,
    simCommand,
    guestsCommand,
    planCommand,
    applyCommand,
    journalCommand,
    selftestCommand,
    configCommand,
    keysCommand,
    opCommand,
    revertCommand
  ])
)

export const cli = Command.run(rootCommand, { name: "felhom-agent", version: "0.1.0" })
