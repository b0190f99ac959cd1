/**
 * `felhom-agent sim`: runs the PVE simulator in the foreground, so operators can try the agent
 * before pointing it at a real host. Prints the URL (with `--nodes`, every node's: one agent per
 * node), the token file it wrote (0600) and the certificate fingerprint to pin, then serves
 * until interrupted.
 */
import { Command, Options } from "@effect/cli"
import { FileSystem, Path } from "@effect/platform"
import { Console, Effect, Option, Redacted } from "effect"
import { DEMO_GUESTS, DEMO_LOCKS } from "../sim/demoGuests.js"
import { startSimulator } from "../sim/Simulator.js"

const options = {
  host: Options.text("host").pipe(Options.withDefault("127.0.0.1"), Options.withDescription("address to listen on")),
  port: Options.integer("port").pipe(Options.withDefault(8006), Options.withDescription("API port (0 = any free port)")),
  controlPort: Options.integer("control-port").pipe(Options.withDefault(8007), Options.withDescription("fault-injection control API port")),
  guests: Options.integer("guests").pipe(
    Options.optional,
    Options.withDescription("generate this many random guests instead of the six that examples/desired.yaml describes")
  ),
  seed: Options.integer("seed").pipe(Options.withDefault(1), Options.withDescription("seed of every random choice")),
  taskMillis: Options.integer("task-ms").pipe(Options.withDefault(500), Options.withDescription("how long each task runs")),
  http: Options.boolean("http").pipe(Options.withDescription("serve plain http instead of https")),
  stateDir: Options.directory("dir").pipe(
    Options.optional,
    Options.withDescription("where to write the token and CA files (default: a new temp dir)")
  )
}

export const simCommand = Command.make("sim", options, (flags) =>
  Effect.scoped(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const sim = yield* startSimulator({
      host: flags.host,
      port: flags.port,
      controlPort: flags.controlPort,
      guests: Option.getOrElse(flags.guests, () => DEMO_GUESTS),
      seed: flags.seed,
      taskDuration: flags.taskMillis,
      https: !flags.http
    })
    if (Option.isNone(flags.guests)) for (const [vmid, lock] of DEMO_LOCKS) sim.cluster.setLock(vmid, lock)
    const dir = yield* Option.match(flags.stateDir, {
      onNone: () => fs.makeTempDirectory({ prefix: "felhom-sim-" }),
      onSome: (d) => Effect.as(fs.makeDirectory(d, { recursive: true }), d)
    })
    const tokenFile = path.join(dir, "token")
    yield* fs.writeFileString(tokenFile, `${sim.tokenId}=${Redacted.value(sim.tokenSecret)}\n`, { mode: 0o600 })
    const lines = [
      `PVE simulator listening on ${sim.url} (control API ${sim.controlUrl})`,
      `token file:  ${tokenFile}  (${sim.tokenId})`
    ]
    if (sim.fingerprint !== "") {
      const caFile = path.join(dir, "ca.pem")
      yield* fs.writeFileString(caFile, sim.caPem)
      lines.push(`fingerprint: ${sim.fingerprint}`, `CA file:     ${caFile}`)
    }
    const pin = sim.fingerprint !== "" ? ` --fingerprint ${sim.fingerprint}` : ""
    lines.push("", `try: felhom-agent guests --pve-url ${sim.url} --token-file ${tokenFile}${pin}`)
    yield* Console.log(lines.join("\n"))
    return yield* Effect.never
  }))
).pipe(Command.withDescription("run the PVE API simulator (HTTPS, token auth, tasks, faults) until interrupted"))
