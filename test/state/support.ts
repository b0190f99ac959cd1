/**
 * Test helpers for the state stores: a temp directory removed with the scope, and intents.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { OpIntentInput } from "../../src/state/OpRecord.js"

/** A fresh 0700 temp dir, removed (recursively) when the scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.promise(() => fs.promises.mkdtemp(path.join(os.tmpdir(), "felhom-state-"))),
  (dir) => Effect.promise(() => fs.promises.rm(dir, { recursive: true, force: true }))
)

export const intentFor = (overrides: Partial<OpIntentInput> = {}): OpIntentInput => ({
  opId: "op-1",
  origin: "planned",
  vmid: 100,
  node: "pve1",
  guestType: "qemu",
  action: "start",
  params: { timeout: 30 },
  preState: { status: "stopped" },
  preDigest: "0123456789abcdef0123456789abcdef01234567",
  inverse: { action: "stop" },
  tokenUser: "felhom@pve!agent",
  ...overrides
})

export const mode = (file: string): number => fs.statSync(file).mode & 0o777
