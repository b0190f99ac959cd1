/**
 * `felhom-agent sim`: runs the PVE simulator in the foreground, so operators can try the agent
 * before pointing it at a real host. Prints the URL (with `--nodes`, every node's: one agent per
 * node), the token file it wrote (0600) and the certificate fingerprint to pin, then serves
 * until interrupted.
 */
import { FileSystem, Path } from "@effect/platform"
import { Console, Effect, Option, Redacted } from "effect"
import { DEMO_GUESTS, DEMO_LOCKS } from "../sim/demoGuests.js"
import { startSimulator } from "../sim/Simulator.js"
import type { SimFlags } from "./commands/sim.js"

/** The body of `felhom-agent sim` (commands/sim.ts). */
export const simHandler = (flags: SimFlags) =>
  Effect.scoped(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const nodes = flags.nodes.split(",").map((n) => n.trim()).filter((n) => n !== "")
    const sim = yield* startSimulator({
      host: flags.host,
      port: flags.port,
      // Past the last node's port, so one node keeps the documented 8006/8007 pair.
      controlPort: Option.getOrElse(flags.controlPort, () => (flags.port === 0 ? 0 : flags.port + nodes.length)),
      nodes,
      guests: Option.getOrElse(flags.guests, () => DEMO_GUESTS),
      seed: flags.seed,
      taskDuration: flags.taskMillis,
      https: !flags.http
    })
    if (Option.isNone(flags.guests)) { for (const [vmid, lock] of DEMO_LOCKS) sim.cluster.setLock(vmid, lock) }
    const dir = yield* Option.match(flags.stateDir, {
      onNone: () => fs.makeTempDirectory({ prefix: "felhom-sim-" }),
      onSome: (d) => Effect.as(fs.makeDirectory(d, { recursive: true }), d)
    })
    const tokenFile = path.join(dir, "token")
    yield* fs.writeFileString(tokenFile, `${sim.tokenId}=${Redacted.value(sim.tokenSecret)}\n`, { mode: 0o600 })
    const lines = [
      `PVE simulator listening on ${sim.url} (control API ${sim.controlUrl})`,
      ...(nodes.length > 1 ? Object.entries(sim.nodeUrls).map(([node, url]) => `node ${node}: ${url}`) : []),
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
