/**
 * A guest's id. PVE accepts 100..999999999 (`pve-vmid`, `^[1-9][0-9]{2,8}$`, pve-common
 * `PVE::JSONSchema::pve_verify_vmid`); a guest is identified by vmid wherever it lives in the
 * cluster (docs/architecture.md, invariant 3).
 */
import { Schema } from "effect"

export const VMID_MIN = 100
export const VMID_MAX = 999_999_999

export const Vmid = Schema.Int.pipe(
  Schema.between(VMID_MIN, VMID_MAX, {
    message: (issue) => `vmid must be an integer in ${VMID_MIN}..${VMID_MAX}, got ${String(issue.actual)}`
  }),
  Schema.brand("Vmid")
)
export type Vmid = typeof Vmid.Type

/** A vmid as written in URLs, desired-state keys and CLI flags. */
export const VmidFromString = Schema.compose(
  Schema.String.pipe(
    Schema.pattern(/^[1-9][0-9]{2,8}$/, {
      message: (issue) => `vmid must match ^[1-9][0-9]{2,8}$, got ${JSON.stringify(issue.actual)}`
    })
  ),
  Schema.compose(Schema.NumberFromString, Vmid)
)

export const makeVmid = Schema.decodeUnknownSync(Vmid)
