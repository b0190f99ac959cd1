/**
 * The daemon end to end with a hub (docs/hub-protocol.md): `felhom-agent daemon`
 * in this process (support/cliInProcess.ts), the simulator over HTTPS and the reference TestHub on loopback. A signed
 * desired document is reconciled and reported; with the hub down the last good document stays
 * in force, also across a restart (it is kept in state.db); unsigned or wrongly signed
 * documents are refused, logged and reported, and the last good one stays.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as path from "node:path"
import { DEFAULT_TOKEN_ID, type RunningSim } from "../../src/sim/Simulator.js"
import { SEEDS } from "../reconcile/EngineSupport.js"
import { type RunningCommand, startDaemonInProcess } from "../support/cliInProcess.js"
import { AGENT_ID, freePort, health, pollUntil, tempDir, writeDaemonConfig, writeFile } from "../support/daemon.js"
import { Sim } from "../support/sim.js"
import { type HubKey, makeHubKey, startTestHub, type TestHub, unsignedDesired } from "../support/TestHub.js"

interface SeenReport {
  readonly desired: { readonly revision: string | null; readonly source: string }
  readonly scope?: { readonly mode: string; readonly node: string | null }
  readonly observed: { readonly guests: ReadonlyArray<{ readonly vmid: number; readonly name?: string }> }
  readonly drift: { readonly actions: number }
  readonly refusals: ReadonlyArray<{ readonly tag: string; readonly message: string }>
}

const reports = (hub: TestHub) => hub.reports as ReadonlyArray<SeenReport>

/** Read afresh each time it runs (`view` answers an Either, i.e. a value, not a lazy effect). */
const description = (sim: RunningSim, vmid: number) =>
  Effect.suspend(() => Effect.map(Effect.orDie(sim.cluster.view(vmid)), (v) => v.config["description"]))

const configWrites = (sim: RunningSim, vmid: number) =>
  sim.cluster.mutations().filter((m) => m.user === DEFAULT_TOKEN_ID && m.kind === "config" && m.vmid === vmid)

const doc = (text: string) => ({ guests: { "100": { config: { description: text } } } })

const signerEntry = (key: HubKey, capabilities: ReadonlyArray<string>) => ({
  keyid: key.keyid,
  publicKey: key.publicKey.export({ type: "spki", format: "pem" }).toString(),
  capabilities
})

/** Sim + hub + temp dir + config (desired from the hub, polled every 300 ms). */
const setup = (extraSigners: ReadonlyArray<ReturnType<typeof signerEntry>> = []) =>
  Effect.gen(function*() {
    const sim = yield* Sim
    const hub = yield* startTestHub({ agent: AGENT_ID })
    const dir = yield* tempDir()
    const port = yield* freePort
    const hubToken = path.join(dir, "hub-token")
    yield* writeFile(hubToken, `${hub.token}\n`)
    const signersFile = path.join(dir, "signers.json")
    yield* writeFile(signersFile, JSON.stringify({ signers: [signerEntry(hub.key, ["desired"]), ...extraSigners] }))
    const env = yield* writeDaemonConfig(dir, sim, port, {
      desired: { source: "hub" },
      hub: { url: hub.url, tokenFile: hubToken, pollInterval: "300ms" },
      signersFile
    })
    return { sim, hub, env, port }
  })

const waitReady = (d: RunningCommand, port: number) =>
  pollUntil("/readyz 200", health(port, "/readyz"), (a) => a.status === 200, { context: d.output })

const waitDescription = (sim: RunningSim, vmid: number, text: string, d: RunningCommand) =>
  pollUntil(`guest ${vmid} description ${JSON.stringify(text)}`, description(sim, vmid), (v) => v === text, {
    context: d.output
  })

/** Starts the daemon on the hub's document r1 and waits until the simulator shows it. */
const convergedOnR1 = (s: Effect.Effect.Success<ReturnType<typeof setup>>) =>
  Effect.gen(function*() {
    s.hub.setDesired(doc("managed by the hub"), { revision: "r1" })
    const daemon = yield* startDaemonInProcess(s.env.configFile)
    yield* waitReady(daemon, s.port)
    yield* waitDescription(s.sim, 100, "managed by the hub", daemon)
    return daemon
  })

describe("daemon with a hub", () => {
  it.scopedLive(
    "reconciles a signed desired state from the hub and reports guests and drift",
    () =>
      Effect.gen(function*() {
        const s = yield* setup()
        const daemon = yield* convergedOnR1(s)
        const report = yield* pollUntil(
          "a report of r1, converged",
          // A report sent before the first pass carries r1 and no drift too, but observed nothing yet.
          Effect.sync(() =>
            reports(s.hub).find((r) =>
              r.desired.revision === "r1" && r.drift.actions === 0 && r.observed.guests.length > 0
            )
          ),
          (r) => r !== undefined,
          { context: daemon.output }
        )
        expect(report?.desired.source).toBe("hub")
        expect(report?.scope).toEqual({ mode: "node", node: "pve1" })
        expect(report?.observed.guests.map((g) => g.vmid).sort()).toEqual([100, 101, 102, 103])
        expect(report?.observed.guests.find((g) => g.vmid === 100)?.name).toBe("web")
        expect(report?.refusals).toEqual([])
        // Bearer token on every request; the one write the document asked for, once.
        expect(s.hub.seen.every((r) => r.headers.authorization === `Bearer ${s.hub.token}`)).toBe(true)
        expect(configWrites(s.sim, 100)).toHaveLength(1)
        expect(s.sim.cluster.mutations().filter((m) => m.user === DEFAULT_TOKEN_ID)).toHaveLength(1)
        expect((yield* daemon.stop).code).toBe(0)
      }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))),
    60_000
  )

  it.scopedLive(
    "an action the reversibility gate refuses is reported as a refusal, and not applied",
    () =>
      Effect.gen(function*() {
        const s = yield* setup()
        // memory is not on the benign allowlist: automatic reconcile may not change it.
        s.hub.setDesired({ guests: { "100": { config: { memory: 8192 } } } }, { revision: "r-mem" })
        const daemon = yield* startDaemonInProcess(s.env.configFile)
        yield* waitReady(daemon, s.port)
        const report = yield* pollUntil(
          "a report with the gate's refusal",
          Effect.sync(() => reports(s.hub).find((r) => r.refusals.some((f) => f.tag === "GateRefused"))),
          (r) => r !== undefined,
          { context: daemon.output }
        )
        expect(report?.refusals.find((f) => f.tag === "GateRefused")?.message).toContain("memory")
        expect(s.sim.cluster.mutations().filter((m) => m.user === DEFAULT_TOKEN_ID)).toEqual([])
        // The log names the guest, the keys and the reason, at WARN.
        const warning = daemon.output().split("\n").find((l) => l.includes("SetConfig qemu/100 not applied"))
        for (
          const part of [
            "level=WARN",
            "vmid=100",
            "keys=memory",
            "outcome=Skipped",
            "reason=\"skipped: refused by the reversibility gate"
          ]
        ) {
          expect(warning).toContain(part)
        }
        expect((yield* daemon.stop).code).toBe(0)
      }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))),
    60_000
  )

  it.scopedLive("hub down: keeps reconciling the last good state, also after a restart", () =>
    Effect.gen(function*() {
      const s = yield* setup()
      const daemon = yield* convergedOnR1(s)
      yield* s.hub.setMode({ _tag: "Refusing" })
      yield* pollUntil("a failed hub pass", Effect.sync(daemon.output), (o) => /hub pass failed/.test(o))
      s.sim.cluster.edit(100, { set: { description: "drifted while the hub is down" } })
      yield* waitDescription(s.sim, 100, "managed by the hub", daemon)
      expect((yield* daemon.stop).code).toBe(0)

      // Restart with the hub still down: the document comes from state.db.
      const again = yield* startDaemonInProcess(s.env.configFile)
      yield* waitReady(again, s.port)
      yield* pollUntil("the stored document in force", Effect.sync(again.output), (o) =>
        /serving the stored desired state until the hub answers.*revision=r1/.test(o))
      s.sim.cluster.edit(100, { set: { description: "drifted after the restart" } })
      yield* waitDescription(s.sim, 100, "managed by the hub", again)
      expect(again.output()).toMatch(/hub pass failed/)
      expect(configWrites(s.sim, 100)).toHaveLength(3)
      expect((yield* again.stop).code).toBe(0)
    }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))), 90_000)

  it.scopedLive(
    "unsigned or wrongly signed documents are refused, logged and reported; the last good one stays",
    () =>
      Effect.gen(function*() {
        const powerOnly = makeHubKey()
        const s = yield* setup([signerEntry(powerOnly, ["power"])])
        const daemon = yield* convergedOnR1(s)
        const now = Math.floor(Date.now() / 1000)
        const evil = doc("not from a trusted signer")
        const refused = (tag: string) =>
          pollUntil(
            `a report carrying ${tag}`,
            Effect.sync(() => reports(s.hub)),
            (rs) => rs.some((r) => r.refusals.some((x) => x.tag === tag)),
            { context: daemon.output }
          )

        s.hub.setDesiredRaw(unsignedDesired({ agent: AGENT_ID, revision: "r2", issued_at: now + 1, document: evil }))
        yield* refused("EnvelopeMalformed")
        s.hub.setDesired(evil, { revision: "r3", issued_at: now + 2 }, [makeHubKey()])
        yield* refused("UnknownSigner")
        s.hub.setDesired(evil, { revision: "r4", issued_at: now + 3 }, [powerOnly])
        yield* refused("DesiredCapabilityMissing")

        for (const tag of ["EnvelopeMalformed", "UnknownSigner", "DesiredCapabilityMissing"]) {
          expect(daemon.output()).toMatch(new RegExp(`level=ERROR.*desired state from the hub refused.*refusal=${tag}`))
        }
        // Every report still names r1, and r1 is still enforced: a drift is put back.
        expect(reports(s.hub).every((r) => r.desired.revision === "r1")).toBe(true)
        expect(yield* description(s.sim, 100)).toBe("managed by the hub")
        s.sim.cluster.edit(100, { set: { description: "drifted" } })
        yield* waitDescription(s.sim, 100, "managed by the hub", daemon)
        expect(configWrites(s.sim, 100)).toHaveLength(2)
        expect((yield* daemon.stop).code).toBe(0)
      }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))),
    60_000
  )
})
