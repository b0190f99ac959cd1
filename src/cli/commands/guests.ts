/** `felhom-agent guests`: its options and help. What it does is ../guests.ts, loaded when it runs. */
import { Command, Options } from "@effect/cli"
import { connectionOptions } from "../connection.js"
import { lazily } from "../lazy.js"

export const guestsOptions = {
  ...connectionOptions,
  json: Options.boolean("json").pipe(Options.withDescription("print JSON"))
}
export type GuestsFlags = Command.Command.ParseConfig<typeof guestsOptions>

export const guestsCommand = Command.make(
  "guests",
  guestsOptions,
  (flags) => lazily(() => import("../guests.js"), (m) => m.guestsHandler(flags))
).pipe(
  Command.withDescription("list the cluster's guests: vmid, node, type, status, lock, name, tags")
)
