/**
 * qemu `sshkeys` lines as `ssh-keygen -l -f` (pve-common `PVE::Tools::validate_ssh_public_keys`)
 * takes them; each case was tried against OpenSSH 9.2's ssh-keygen.
 */
import { describe, expect, it } from "@effect/vitest"
import { sshKeysProblem } from "../../src/sim/SshKeys.js"

const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFLWHw4QWvGti1Kgu9i6AijCfov0F5KQIH4n7dH+DbE+"
const RSA_1024 =
  "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDKla1Buz0zr1QdrZAovHRXoLNY1WqKzE4BC0zZ7jMk/dIHq054Qi+6ZX5OAw53FZdvhdktD4pIUtCwLza93DL4aDZs+z7MeCQa4PZgBtGxt2MYbwDwcZ8xrViRebOVBoTw7nKYOWBdDi0rx/6Y/N6AnNodjkArcjOVossbRG4/Jw=="
const ECDSA =
  "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEDaXvIl3KyeeCVXoCNTEKKknwfphHhyTntbFc/u5u42qCzYAkQoHIezQqhsuvBpOmcp0PFEBOR0Xw57ez0AOlQ= x"
const refused = "SSH public key validation error"

describe("ssh public keys", () => {
  it("takes keys with or without comment, after one options word, one per line, URI-escaped", () => {
    for (
      const value of [
        ED25519,
        `${ED25519} me@host extra words`,
        RSA_1024,
        ECDSA,
        `from="a b" ${ED25519} c`,
        `host ${ED25519}`,
        `${ED25519}\n\n${ECDSA}\n`,
        encodeURIComponent(`${ED25519} me@host`)
      ]
    ) expect([value, sshKeysProblem(value)]).toEqual([value, undefined])
  })

  it("refuses what ssh-keygen cannot read: truncated, mistyped, padded, bare blobs, comments, two leading words", () => {
    const blob = ED25519.split(" ")[1] ?? ""
    for (
      const value of [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAbc me@host",
        `ssh-rsa ${blob}`,
        `${ED25519}=`,
        `${ED25519.slice(0, -1)}`,
        blob,
        "#comment",
        `a b ${ED25519}`,
        `${ED25519}\nnot a key`
      ]
    ) expect([value, sshKeysProblem(value)]).toEqual([value, refused])
  })
})
