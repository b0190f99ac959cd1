/**
 * The Nix files parse: nothing here can build or evaluate them (no nixpkgs), but a
 * syntax error would otherwise first show on a deployer's machine. Skipped, visibly, where
 * Debian's nix-bin is not installed; .ci/run installs it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import { ROOT } from "../support/cli.js"

const hasNix = ChildProcess.spawnSync("sh", ["-c", "command -v nix-instantiate"]).status === 0

describe("deploy files", () => {
  it.skipIf(!hasNix)("every .nix file parses with nix-instantiate --parse", () => {
    const result = ChildProcess.spawnSync("bash", ["scripts/check-flake.sh"], { cwd: ROOT, encoding: "utf8" })
    expect(result.stdout + result.stderr).toMatch(/\d+ \.nix files parse/)
    expect(result.status).toBe(0)
  })

  it("the systemd unit never sets MemoryDenyWriteExecute (V8 needs W^X pages)", async () => {
    const { readFileSync } = await import("node:fs")
    const unit = readFileSync(`${ROOT}/deploy/felhom-agent.service`, "utf8")
    expect(unit).not.toMatch(/^\s*MemoryDenyWriteExecute\s*=\s*(yes|true|1)/m)
    for (
      const line of [
        "Type=notify",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "UMask=0077",
        "SystemCallFilter=@system-service"
      ]
    ) {
      expect(unit).toContain(line)
    }
    expect(unit).toMatch(/^RestrictAddressFamilies=.*AF_UNIX/m)
    expect(unit).toMatch(/^LoadCredential=pve-token:/m)
  })

  it("the systemd unit and the NixOS module give the daemon the same NODE_OPTIONS", async () => {
    const { readFileSync } = await import("node:fs")
    const unit = readFileSync(`${ROOT}/deploy/felhom-agent.service`, "utf8")
    const module = readFileSync(`${ROOT}/nix/module.nix`, "utf8")
    const nix = /^\s*environment\.NODE_OPTIONS\s*=\s*"([^"]*)";/m.exec(module)?.[1]
    expect(nix).toBe("--max-semi-space-size=2")
    expect([...unit.matchAll(/^Environment=NODE_OPTIONS=(.*)$/gm)].map((m) => m[1])).toEqual([nix])
  })

  it("the systemd unit and the NixOS module keep Node's compile cache in the service's own cache directory", async () => {
    const { readFileSync } = await import("node:fs")
    const unit = readFileSync(`${ROOT}/deploy/felhom-agent.service`, "utf8")
    const module = readFileSync(`${ROOT}/nix/module.nix`, "utf8")
    const nix = /^\s*environment\.NODE_COMPILE_CACHE\s*=\s*"([^"]*)";/m.exec(module)?.[1]
    expect(nix).toBe("/var/cache/felhom-agent/node-compile-cache")
    expect([...unit.matchAll(/^Environment=NODE_COMPILE_CACHE=(.*)$/gm)].map((m) => m[1])).toEqual([nix])
    expect(unit).toMatch(/^CacheDirectory=felhom-agent$/m)
    expect(unit).toMatch(/^CacheDirectoryMode=0700$/m)
    expect(module).toMatch(/^\s*CacheDirectory = "felhom-agent";$/m)
    expect(module).toMatch(/^\s*CacheDirectoryMode = "0700";$/m)
  })
})
