/**
 * The bundle (scripts/build.mjs) loads a command's code only when that command runs. Checked on
 * esbuild's metafile, not by timing: a chunk's static imports are what node loads before it
 * runs, so the inputs reachable that way are exactly what a start pays for. `import()` edges
 * are what a handler loads when its command runs.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Metafile } from "esbuild"
import * as ChildProcess from "node:child_process"
import { builtinModules } from "node:module"
import { bundle } from "../../scripts/build.mjs"
import { MAIN } from "../support/cli.js"

let built: Promise<Metafile> | undefined
const metafile = (): Promise<Metafile> => {
  built ??= bundle().then((r) => r.metafile)
  return built
}

/**
 * The output file built from `entryPoint` (src/main.ts, or a module some code imports with
 * `import()`); a name no output has when there is none, so the expectations using it fail.
 */
const outputOf = (meta: Metafile, entryPoint: string): string =>
  Object.entries(meta.outputs).find(([, o]) => o.entryPoint === entryPoint)?.[0] ??
    `(no output built from ${entryPoint})`

/** What node loads before `output` runs: the output and its static imports, transitively. */
const staticClosure = (meta: Metafile, output: string) => {
  const files = new Set<string>()
  const external = new Set<string>()
  const visit = (file: string) => {
    if (files.has(file)) return
    files.add(file)
    for (const i of meta.outputs[file]?.imports ?? []) {
      if (i.external) external.add(i.path)
      else if (i.kind === "import-statement") visit(i.path)
    }
  }
  visit(output)
  const inputs = [...files].flatMap((f) => Object.keys(meta.outputs[f]?.inputs ?? {}))
  const dynamic = [...files].flatMap((f) =>
    (meta.outputs[f]?.imports ?? []).filter((i) => i.kind === "dynamic-import").map((i) => i.path)
  )
  return { files, inputs, external: [...external], dynamic }
}

/** The handler modules of src/cli/commands/, one per command (or group of subcommands). */
const HANDLERS = [
  "apply",
  "config",
  "daemon",
  "guests",
  "journal",
  "op",
  "opSubmit",
  "plan",
  "revert",
  "selftest",
  "sim",
  "status"
]

/** Never loaded before a command runs, and never by `daemon` or `plan` unless used. */
const HEAVY = [
  /node_modules\/node-forge\//, // TLS certificate generation, the simulator's
  /node_modules\/@opentelemetry\//,
  /node_modules\/@effect\/opentelemetry\//,
  /^src\/sim\//,
  /^src\/daemon\/OtlpTracing\.ts$/,
  /^scripts\//
]

const heavyIn = (inputs: ReadonlyArray<string>) => inputs.filter((i) => HEAVY.some((h) => h.test(i)))

describe("the bundle", () => {
  it("--version and --help load only the command tree: no handler, PVE client, SQLite, simulator or OpenTelemetry", async () => {
    const meta = await metafile()
    const main = staticClosure(meta, outputOf(meta, "src/main.ts"))
    expect(heavyIn(main.inputs)).toEqual([])
    expect(
      main.inputs.filter((i) => /node_modules\/(undici|yaml)\/|^src\/(pve|state|reconcile|app|hub|gate)\//.test(i))
    ).toEqual([])
    expect(main.external.filter((e) => !e.startsWith("node:"))).toEqual([])
    for (const handler of HANDLERS) expect(main.inputs).not.toContain(`src/cli/${handler}.ts`)
  })

  it("each command's implementation is a chunk of its own, reached from the command tree only by import()", async () => {
    const meta = await metafile()
    const main = staticClosure(meta, outputOf(meta, "src/main.ts"))
    for (const handler of HANDLERS) {
      const chunk = outputOf(meta, `src/cli/${handler}.ts`)
      expect(main.files.has(chunk)).toBe(false)
      expect(main.dynamic).toContain(chunk)
    }
  })

  it("daemon and plan load neither the simulator, node-forge nor OpenTelemetry; plan not SQLite either", async () => {
    const meta = await metafile()
    const daemon = staticClosure(meta, outputOf(meta, "src/cli/daemon.ts"))
    const plan = staticClosure(meta, outputOf(meta, "src/cli/plan.ts"))
    expect(heavyIn(daemon.inputs)).toEqual([])
    expect(heavyIn(plan.inputs)).toEqual([])
    expect(plan.external).not.toContain("better-sqlite3")
    expect(plan.inputs.filter((i) => /^src\/(hub|state)\//.test(i))).toEqual([])
    // The exporter is there, behind the import() that runs only when an endpoint is configured.
    expect(daemon.dynamic).toContain(outputOf(meta, "src/daemon/OtlpTracing.ts"))
  })

  it("daemon reaches the hub's code (src/hub: client, loop, desired provider) only through the import() of hubLayers", async () => {
    const meta = await metafile()
    const daemon = staticClosure(meta, outputOf(meta, "src/cli/daemon.ts"))
    expect(daemon.inputs.filter((i) => /^src\/hub\//.test(i))).toEqual([])
    const hub = outputOf(meta, "src/daemon/hubLayers.ts")
    expect(daemon.files.has(hub)).toBe(false)
    expect(daemon.dynamic).toContain(hub)
    // Not vacuous: the client and the loop are what that import() loads.
    expect(staticClosure(meta, hub).inputs).toEqual(
      expect.arrayContaining(["src/hub/HubClient.ts", "src/hub/HubLoop.ts"])
    )
  })

  it("only the SQLite addon stays outside the bundle, besides node's own modules and ws's optional addons", async () => {
    const meta = await metafile()
    const external = new Set(
      Object.values(meta.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path))
    )
    // ws requires these inside a try and works without them; none is installed.
    const optional = new Set(["bufferutil", "utf-8-validate"])
    const builtin = new Set(builtinModules)
    expect([...external].filter((e) => !e.startsWith("node:") && !builtin.has(e) && !optional.has(e))).toEqual([
      "better-sqlite3"
    ])
  })

  it("node dist/main.js --version prints the version, nothing else", () => {
    const r = ChildProcess.spawnSync(process.execPath, [MAIN, "--version"], { encoding: "utf8" })
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    expect(r.stdout.trim()).toBe("0.1.0")
  })
})
