/** `felhom-agent sim`: its options and help. What it does is ../sim.ts, loaded when it runs. */
import { Command, Options } from "@effect/cli"
import { lazily } from "../lazy.js"

export const simOptions = {
  host: Options.text("host").pipe(Options.withDefault("127.0.0.1"), Options.withDescription("address to listen on")),
  port: Options.integer("port").pipe(
    Options.withDefault(8006),
    Options.withDescription("the first node's API port; node i listens on port+i (0 = any free ports)")
  ),
  controlPort: Options.integer("control-port").pipe(
    Options.optional,
    Options.withDescription(
      "fault-injection control API port (default: the port after the last node's; 0 with --port 0)"
    )
  ),
  nodes: Options.text("nodes").pipe(
    Options.withDefault("pve1"),
    Options.withDescription(
      "comma-separated node names, each served on its own port; the demo guests stay on the first"
    )
  ),
  guests: Options.integer("guests").pipe(
    Options.optional,
    Options.withDescription("generate this many random guests instead of the six that examples/desired.yaml describes")
  ),
  seed: Options.integer("seed").pipe(Options.withDefault(1), Options.withDescription("seed of every random choice")),
  taskMillis: Options.integer("task-ms").pipe(
    Options.withDefault(500),
    Options.withDescription("how long each task runs")
  ),
  http: Options.boolean("http").pipe(Options.withDescription("serve plain http instead of https")),
  stateDir: Options.directory("dir").pipe(
    Options.optional,
    Options.withDescription("where to write the token and CA files (default: a new temp dir)")
  )
}
export type SimFlags = Command.Command.ParseConfig<typeof simOptions>

export const simCommand = Command.make(
  "sim",
  simOptions,
  (flags) => lazily(() => import("../sim.js"), (m) => m.simHandler(flags))
).pipe(
  Command.withDescription("run the PVE API simulator (HTTPS, token auth, tasks, faults) until interrupted")
)
