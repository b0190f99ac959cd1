/**
 * The `felhom-agent` command tree: every command's name, options and help (commands/), read at
 * each start. What a command does is loaded only when it runs (lazy.ts).
 */
import { Command } from "@effect/cli"
import { keysCommand, opCommand } from "./op.js"
import { applyCommand } from "./apply.js"
import { configCommand } from "./config.js"
import { daemonCommand } from "./daemon.js"
import { guestsCommand } from "./guests.js"
import { journalCommand } from "./journal.js"
import { planCommand } from "./plan.js"
import { revertCommand } from "./revert.js"
import { selftestCommand } from "./selftest.js"
import { simCommand } from "./sim.js"
import { statusCommand } from "./status.js"

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
