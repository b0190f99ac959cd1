/**
 * The alert rules and the dashboard against a real Prometheus (docs/operations.md, "Alerts and
 * dashboard"): Debian's `prometheus` binary on 127.0.0.1 scrapes a running daemon every
 * second (the daemon driven by the reference hub against the simulator, so that every series it
 * defines gets recorded: a refused and an accepted hub document, an applied change, a gate
 * refusal, a PVE task, failed passes while PVE answers 500, ops finished by the engine, hub
 * passes failing once the hub goes away), with the rules file loaded. Then through Prometheus's
 * HTTP API: every dashboard query and every alert expression parses, every query and selector
 * returns data, every rule evaluates healthy, and the alerts this situation calls for are
 * pending or firing. Skipped, visibly, where the prometheus binary is missing; .ci/run
 * installs it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import type { RunningSim } from "../../src/sim/Simulator.js"
import { parsePrometheus } from "../daemon/fixtures/prometheus.js"
import { SEEDS } from "../reconcile/EngineSupport.js"
import {
  AGENT_ID,
  freePort,
  health,
  httpGet,
  pollUntil,
  spawnDaemon,
  stopDaemon,
  tempDir,
  writeDaemonConfig,
  writeFile
} from "../support/daemon.js"
import { Sim } from "../support/sim.js"
import { startTestHub, unsignedDesired } from "../support/TestHub.js"
import {
  alertRules,
  dashboardQueries,
  definedFamilies,
  familyOf,
  forPrometheus,
  onPath,
  RULES_FILE,
  SCRAPE_JOB,
  selectors
} from "./monitoring.js"

const hasPrometheus = onPath("prometheus")
const skipped = hasPrometheus
  ? ""
  : " [SKIPPED: the prometheus binary is not installed; `apt-get install prometheus` provides it, .ci/run does so]"

/** The whole test, Prometheus and daemon start included. */
const BUDGET_MS = 55_000

interface PromAnswer {
  readonly status: string
  readonly error?: string
  readonly errorType?: string
  readonly data?: {
    readonly resultType: string
    readonly result: ReadonlyArray<{ readonly metric: Record<string, string> }>
  }
}

interface RulesAnswer {
  readonly data: {
    readonly groups: ReadonlyArray<{
      readonly name: string
      readonly rules: ReadonlyArray<
        { readonly name: string; readonly health: string; readonly lastError?: string; readonly type: string }
      >
    }>
  }
}

interface AlertsAnswer {
  readonly data: { readonly alerts: ReadonlyArray<{ readonly labels: Record<string, string>; readonly state: string }> }
}

const getJson = <A>(url: string): Effect.Effect<A | undefined> =>
  Effect.map(httpGet(url), (a) => {
    if (a.status === 0) return undefined
    try {
      return JSON.parse(a.body) as A
    } catch {
      return undefined
    }
  })

/**
 * `prometheus` on 127.0.0.1:port with its TSDB under `dir`; SIGTERM (then SIGKILL) with the
 * scope, waiting for the exit, so no server outlives the test.
 */
const startPrometheus = (dir: string, port: number, configFile: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = ChildProcess.spawn("prometheus", [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${path.join(dir, "tsdb")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--storage.tsdb.retention.time=1h",
        "--log.level=warn"
      ], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
      let output = ""
      child.stdout?.on("data", (d: Buffer) => {
        output += d.toString()
      })
      child.stderr?.on("data", (d: Buffer) => {
        output += d.toString()
      })
      const exited = new Promise<void>((resolve) => child.once("close", () => resolve()))
      return { child, output: () => output, exited }
    }),
    (p) =>
      Effect.promise(async () => {
        if (p.child.exitCode !== null || p.child.signalCode !== null) return
        p.child.kill("SIGTERM")
        const killer = setTimeout(() => p.child.kill("SIGKILL"), 10_000)
        await p.exited
        clearTimeout(killer)
      })
  )

const description = (sim: RunningSim, vmid: number) =>
  Effect.suspend(() => Effect.map(Effect.orDie(sim.cluster.view(vmid)), (v) => v.config["description"]))

const DOC = {
  guests: {
    // Applied: a benign key.
    "100": { config: { description: "watched by prometheus" } },
    // Refused every pass by the reversibility gate (memory is not on the allowlist): drift stays 1.
    "101": { config: { memory: 2048 } },
    // A start: a PVE task to wait for (the first one fails, see below).
    "102": { power: "running" }
  }
}

describe("rules and dashboard on a real Prometheus scraping the daemon", () => {
  it.scopedLive.skipIf(!hasPrometheus)(
    `every query parses and returns data; the alerts this run calls for are active${skipped}`,
    () =>
      Effect.gen(function*() {
        const started = Date.now()
        const left = () => Duration.millis(Math.max(1_000, BUDGET_MS - (Date.now() - started)))
        const sim = yield* Sim
        const hub = yield* startTestHub({ agent: AGENT_ID })
        const dir = yield* tempDir("felhom-prometheus-")
        const port = yield* freePort
        const promPort = yield* freePort

        const hubToken = path.join(dir, "hub-token")
        yield* writeFile(hubToken, `${hub.token}\n`)
        const signersFile = path.join(dir, "signers.json")
        yield* writeFile(
          signersFile,
          JSON.stringify({
            signers: [{
              keyid: hub.key.keyid,
              publicKey: hub.key.publicKey.export({ type: "spki", format: "pem" }).toString(),
              capabilities: ["desired"]
            }]
          })
        )
        const env = yield* writeDaemonConfig(dir, sim, port, {
          desired: { source: "hub" },
          hub: { url: hub.url, tokenFile: hubToken, pollInterval: "300ms" },
          signersFile
        })
        const promConfig = path.join(dir, "prometheus.yml")
        yield* writeFile(
          promConfig,
          [
            "global:",
            "  scrape_interval: 1s",
            "  scrape_timeout: 1s",
            "  evaluation_interval: 1s",
            "rule_files:",
            `  - ${JSON.stringify(RULES_FILE)}`,
            "scrape_configs:",
            `  - job_name: ${SCRAPE_JOB}`,
            "    static_configs:",
            `      - targets: ["127.0.0.1:${port}"]`,
            ""
          ].join("\n")
        )

        // The first start of guest 102 fails (a Failed action, a task ending in error); the retry works.
        sim.cluster.setFaults({
          failTasks: [{ vmid: 102, type: "qmstart", message: "simulated start failure", count: 1 }]
        })
        // First a document the agent must refuse (unsigned), so the refusal counter exists too.
        hub.setDesiredRaw(
          unsignedDesired({ agent: AGENT_ID, revision: "r0", issued_at: Math.floor(Date.now() / 1000), document: DOC })
        )
        const prometheus = yield* startPrometheus(dir, promPort, promConfig)
        const daemon = yield* spawnDaemon(env.configFile)
        const api = `http://127.0.0.1:${promPort}`
        const context = () =>
          `--- daemon ---\n${daemon.output().slice(-3_000)}\n--- prometheus ---\n${prometheus.output().slice(-3_000)}`

        const query = (expr: string) =>
          Effect.map(getJson<PromAnswer>(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`), (a) =>
            a ?? { status: "unreachable" })
        const families = Effect.map(health(port, "/metrics"), (a) =>
          a.status === 200 ? new Set(parsePrometheus(a.body).types.keys()) : new Set<string>())
        const hasFamily = (name: string) => (f: ReadonlySet<string>) =>
          f.has(name)

        yield* pollUntil("/readyz 200", health(port, "/readyz"), (a) =>
          a.status === 200, { context, timeout: left() })
        yield* pollUntil("the unsigned document refused", families, hasFamily("felhom_hub_desired_refused_total"), {
          context,
          timeout: left()
        })
        hub.setDesired(DOC, { revision: "r1" })
        yield* pollUntil("guest 100 reconciled", description(sim, 100), (d) =>
          d === "watched by prometheus", { context, timeout: left() })
        yield* pollUntil("a gate refusal and a task waited on", families, (f) =>
          f.has("felhom_gate_refusals_total") && f.has("felhom_pve_task_wait_seconds"), { context, timeout: left() })
        const status = Effect.suspend(() =>
          Effect.map(Effect.orDie(sim.cluster.view(102)), (v) =>
            v.status)
        )
        yield* pollUntil("guest 102 running after its failed start", status, (st) =>
          st === "running", { context, timeout: left() })
        yield* pollUntil("Prometheus ready", httpGet(`${api}/-/ready`), (a) =>
          a.status === 200, { context, timeout: left() })
        // PVE answers 500 to the pass's first read until Prometheus has seen passes fail (a rising
        // counter: a counter is born at its first increment, which rate() cannot see).
        sim.cluster.setFaults({ pathPattern: "^/cluster/resources", errorRate: 1, errorStatus: 500 })
        yield* pollUntil(
          "failed passes, seen by Prometheus",
          query("rate(felhom_reconcile_pass_failures_total[1m]) > 0"),
          (a) =>
            (a.data?.result.length ?? 0) > 0,
          { context, timeout: left(), every: "250 millis" }
        )
        sim.cluster.clearFaults()
        // The hub goes away for the rest of the run: hub passes fail, the last document stays in force.
        yield* hub.setMode({ _tag: "Unavailable" })
        yield* pollUntil("failed hub passes, seen by Prometheus", query("felhom_hub_consecutive_failures > 0"), (a) =>
          (a.data?.result.length ?? 0) > 0, { context, timeout: left(), every: "250 millis" })

        // Every series the rules and the dashboard name.
        const rules = alertRules()
        const queries = dashboardQueries()
        const defined = definedFamilies()
        const familiesOf = (expr: string) =>
          selectors(expr).map((s) =>
            familyOf(s.name, defined)
          )
        const expected = new Set(
          [
            ...rules.map((r) =>
              r.expr
            ),
            ...queries.map((q) =>
              q.expr
            )
          ]
            .flatMap(familiesOf).filter((f) =>
              f !== "up"
            )
        )
        yield* pollUntil("every named series on /metrics", families, (f) =>
          [...expected].every((name) =>
            f.has(name)
          ), { context, timeout: left() })

        // One check per expression: it must parse; with data expected, poll until the scrapes bring it.
        const check = (what: string, expr: string, wantData: boolean) =>
          Effect.gen(function*() {
            const answer = yield* pollUntil(`${what}: ${expr}`, query(expr), (a) =>
              a.status === "error" || (a.status === "success" && (!wantData || (a.data?.result.length ?? 0) > 0)), {
              context,
              timeout: left(),
              every: "250 millis"
            })
            expect(answer.error ?? "", `${what}: ${expr}`).toBe("")
            expect(answer.status, `${what}: ${expr}`).toBe("success")
            return answer
          })

        for (const q of queries) {
          yield* check(`panel "${q.panel}" ${q.refId}`, forPrometheus(q.expr), true)
        }
        for (const rule of rules) {
          // The expression itself holds only while its alert would be active; its selectors must have data.
          yield* check(`alert ${rule.alert}`, rule.expr, false)
          for (const s of selectors(rule.expr)) {
            yield* check(`alert ${rule.alert} selector`, s.selector, true)
          }
        }

        // The engine's ops by kind and outcome (guest 100's write applied, guest 102's first start
        // failed), and every journal phase the gauge reports, zeros included.
        yield* check("ops", `felhom_ops_total{kind="SetConfig",outcome="Applied"}`, true)
        yield* check("ops", `felhom_ops_total{kind="Start",outcome="Failed"}`, true)
        const phases = yield* check("journal phases", `felhom_journal_ops{job="${SCRAPE_JOB}"}`, true)
        expect(
          phases.data?.result.map((r) =>
            r.metric["phase"]
          ).sort()
        ).toEqual([
          "in-flight",
          "intent",
          "needs-operator"
        ])
        yield* check("no op waits for an operator", `felhom_journal_ops{phase="needs-operator"} == 0`, true)

        // Prometheus loaded every rule and evaluates each without error against the live series.
        const ruleStates = yield* pollUntil("every rule evaluated", getJson<RulesAnswer>(`${api}/api/v1/rules`), (a) =>
          a !== undefined && a.data.groups.flatMap((g) =>
            g.rules
          ).every((r) => r.health !== "unknown"), { context, timeout: left() })
        const loaded = ruleStates?.data.groups.flatMap((g) =>
          g.rules
        ) ?? []
        expect(loaded.map((r) => r.name).sort()).toEqual(rules.map((r) => r.alert).sort())
        for (const r of loaded) {
          expect({ rule: r.name, health: r.health, lastError: r.lastError ?? "" }).toEqual({
            rule: r.name,
            health: "ok",
            lastError: ""
          })
        }

        // What this run calls for: drift held by the gate, gate refusals, failed passes, the hub
        // away (pending: their `for` is long), the refused hub document (firing at once); the agent
        // is up, passes also succeed and no op waits for an operator, so none of the others.
        const stateOf = (a: AlertsAnswer | undefined, name: string) =>
          a?.data.alerts.filter((x) => x.labels["alertname"] === name).map((x) => x.state) ?? []
        const want: Record<string, ReadonlyArray<string>> = {
          FelhomDriftPersisting: ["pending"],
          FelhomGateRefusing: ["pending"],
          FelhomReconcilePassesFailing: ["pending"],
          FelhomHubUnreachable: ["pending"],
          FelhomHubDesiredRefused: ["firing"],
          FelhomOpsNeedOperator: [],
          FelhomAgentDown: [],
          FelhomAgentAbsent: [],
          FelhomAgentNotReady: [],
          FelhomReconcileStalled: []
        }
        const alertsNow = getJson<AlertsAnswer>(`${api}/api/v1/alerts`)
        const summary = (a: AlertsAnswer | undefined) =>
          Object.fromEntries(Object.keys(want).map((name) => [name, stateOf(a, name)]))
        const seen = yield* pollUntil("the alerts this run calls for", Effect.map(alertsNow, summary), (got) =>
          JSON.stringify(got) === JSON.stringify(want), { context, timeout: left(), every: "250 millis" })
        expect(seen).toEqual(want)
        const refused = (yield* alertsNow)?.data.alerts.find((a) =>
          a.labels["alertname"] === "FelhomHubDesiredRefused"
        )
        expect(refused?.labels).toMatchObject({ job: SCRAPE_JOB, instance: `127.0.0.1:${port}`, severity: "warning" })

        expect(yield* stopDaemon(daemon)).toEqual({ code: 0, signal: null })
        expect(Date.now() - started).toBeLessThan(BUDGET_MS)
        expect(fs.existsSync(path.join(dir, "tsdb"))).toBe(true)
      }).pipe(Effect.provide(Sim.layer({ guests: SEEDS }))),
    60_000
  )
})
