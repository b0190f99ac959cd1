/**
 * The README's first steps: `felhom-agent sim`, then `felhom-agent guests` against it, each as
 * `main` runs it, in this process (support/cliInProcess.ts): real HTTPS, exit codes and stderr.
 * The README itself runs word for word as processes (readme.process.test.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { runCliInProcess as runCli, startCliInProcess } from "../support/cliInProcess.js"
import { pollUntil } from "../support/daemon.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "felhom-cli-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

const field = (output: string, label: string): string => {
  const m = new RegExp(`${label}\\s+(\\S+)`).exec(output)
  return m?.[1] ?? ""
}

describe("felhom-agent sim + guests", () => {
  it.live("sim prints URL, token file (0600) and fingerprint; guests --json lists its guests", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      const sim = yield* startCliInProcess(["sim", "--port", "0", "--control-port", "0", "--guests", "5", "--dir", dir])
      const out = yield* pollUntil("the simulator's banner", Effect.sync(sim.stdout), (o) => /try: /.test(o))
      const url = /listening on (https:\/\/\S+)/.exec(out)?.[1] ?? ""
      const tokenFile = field(out, "token file:")
      const fingerprint = field(out, "fingerprint:")
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
      expect(fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
      expect(Fs.statSync(tokenFile).mode & 0o777).toBe(0o600)
      const secret = Fs.readFileSync(tokenFile, "utf8").trim().split("=").at(-1) ?? ""
      expect(out).not.toContain(secret)

      const listed = yield* runCli([
        "guests",
        "--json",
        "--pve-url",
        url,
        "--token-file",
        tokenFile,
        "--fingerprint",
        fingerprint
      ])
      expect(listed.stderr).toBe("")
      expect(listed.code).toBe(0)
      const rows: Array<{ vmid: number; type: string; node: string }> = JSON.parse(listed.stdout)
      expect(rows).toHaveLength(5)
      expect(rows.every((r) => (r.type === "qemu" || r.type === "lxc") && r.node === "pve1")).toBe(true)

      // Flags may come from the environment instead.
      const viaEnv = yield* runCli(["guests"], {
        FELHOM_PVE_URL: url,
        FELHOM_PVE_TOKEN_FILE: tokenFile,
        FELHOM_PVE_FINGERPRINT: fingerprint
      })
      expect(viaEnv.code).toBe(0)
      expect(viaEnv.stdout.split("\n")[0]).toMatch(/^VMID\s+NODE\s+TYPE\s+STATUS\s+LOCK\s+NAME\s+TAGS$/)

      const wrongPin = yield* runCli([
        "guests",
        "--pve-url",
        url,
        "--token-file",
        tokenFile,
        "--fingerprint",
        "AA:" + fingerprint.slice(3)
      ])
      expect(wrongPin.code).toBe(1)
      expect(wrongPin.stderr.trim().split("\n")).toHaveLength(1)
      expect(wrongPin.stderr).toContain("does not match the pinned")
      expect(wrongPin.stderr).not.toContain(secret)
    })))

  it.live("a bad token file is one clear line on stderr and exit 1", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      const file = Path.join(dir, "token")
      Fs.writeFileSync(file, "not-a-token-secret-value\n", { mode: 0o600 })
      const result = yield* runCli(["guests", "--pve-url", "https://127.0.0.1:1", "--token-file", file])
      expect(result.code).toBe(1)
      expect(result.stderr.trim().split("\n")).toEqual([
        "felhom-agent: invalid PVE API token: expected USER@REALM!TOKENID=SECRET (no '=' found)"
      ])
      const missing = yield* runCli([
        "guests",
        "--pve-url",
        "https://127.0.0.1:1",
        "--token-file",
        Path.join(dir, "absent")
      ])
      expect(missing.code).toBe(1)
      expect(missing.stderr).toMatch(/^felhom-agent: cannot read token file .*absent/)
    })))
})
