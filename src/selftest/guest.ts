/**
 * Finds the guest the selftest is asked to exercise and what decides whether it may be: its
 * node, tags, lock and template flag.
 */
import { Effect, Schema } from "effect"
import { GuestRef } from "../domain/Guest.js"
import type { PveShape } from "../pve/Pve.js"
import { vmPath } from "./preflight.js"
import type { GuestSummary } from "./report.js"
import { check, SelftestMismatch, type SelftestStepFailed, type StepContext } from "./steps.js"

const decodeRef = Schema.decodeUnknown(GuestRef)

export interface FoundGuest {
  readonly ref: GuestRef
  readonly summary: GuestSummary
  readonly template: boolean
  readonly lock: string | undefined
}

/**
 * The guest by vmid wherever it lives (docs/architecture.md, invariant 3). Tags, lock and
 * template come from its config, not /cluster/resources, whose rows can be ~10 s stale
 * (pve-manager `PVE::Service::pvestatd`).
 */
export const lookupGuest = (
  pve: PveShape,
  rec: Pick<StepContext, "steps">,
  vmid: number
): Effect.Effect<FoundGuest, SelftestStepFailed> =>
  check(
    rec,
    { task: "guest", step: `find guest ${vmid}` },
    Effect.gen(function*() {
      const row = (yield* pve.guests).find((g) => g.vmid === vmid)
      if (row === undefined) {
        return yield* new SelftestMismatch({
          reason: `guest ${vmid} not found (or the token lacks VM.Audit on ${vmPath(vmid)})`
        })
      }
      const ref = yield* decodeRef({ vmid: row.vmid, node: row.node, type: row.type }).pipe(
        Effect.mapError((e) => new SelftestMismatch({ reason: `guest ${vmid}: ${e.message}` }))
      )
      const [config, status] = yield* Effect.all([pve.config(ref), pve.status(ref)])
      const str = (key: string): string | undefined => {
        const v = config.values[key]
        return v === undefined ? undefined : String(v)
      }
      const summary: GuestSummary = {
        vmid,
        node: ref.node,
        type: ref.type,
        name: str(ref.type === "qemu" ? "name" : "hostname") ?? row.name,
        status: status.status,
        tags: str("tags")
      }
      const lock = str("lock") ?? status.lock
      const template = str("template") === "1"
      return {
        value: { ref, summary, template, lock },
        detail: `${ref.toString()} ${summary.status}${lock === undefined ? "" : `, locked (${lock})`}${
          template ? ", template" : ""
        }, tags ${summary.tags ?? "none"}`
      }
    })
  )
