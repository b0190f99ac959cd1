/**
 * An lxc container's `features`: pve-container PVE::LXC::Config `$features_desc`, and who may
 * change which flag (PVE::LXC `check_ct_modify_config_perm`). For anyone but root@pam, PVE
 * compares the flags before and after: changing nesting wants VM.Allocate, changing any other
 * flag is root@pam's, and on a privileged container every change is. A document that restates
 * flags root@pam set changes nothing and passes, so the rule needs the container's current
 * config; without it the value is checked for its format only.
 */
import { checkPropertyString } from "./check.js"
import type { KeySpec, PropertyFormat, PropertyMap } from "./spec.js"

const FORMAT: PropertyFormat = {
  keys: {
    mount: { type: "string", pattern: /^[a-zA-Z0-9_; ]+$/ },
    nesting: { type: "boolean" },
    keyctl: { type: "boolean" },
    fuse: { type: "boolean" },
    mknod: { type: "boolean" },
    force_rw_sys: { type: "boolean" }
  }
}

/** Perl truthiness of an optional value. */
const truthy = (v: string | undefined): boolean => v !== undefined && v !== "" && v !== "0"

/** `parse_features`: the flags as PVE compares them (booleans as 1/0); none for an empty value. */
const flags = (value: string | undefined): PropertyMap =>
  value === undefined || !truthy(value) ? new Map() : checkPropertyString(FORMAT, value).props ?? new Map()

/** The flags a write changes, as `check_ct_modify_config_perm` counts them. */
const changedFlags = (desired: string | undefined, old: string | undefined): ReadonlyArray<string> => {
  const before = flags(old)
  // A delete, and a first value, count every flag they name.
  if (desired === undefined) return [...before.keys()]
  const after = flags(desired)
  if (before.size === 0) return [...after.keys()]
  return [...new Set([...before.keys(), ...after.keys()])].filter((f) => (before.get(f) ?? "") !== (after.get(f) ?? ""))
}

const ROOT_ONLY =
  "only root@pam may do so (PVE::LXC check_ct_modify_config_perm); the agent's API token never counts as root@pam"

export const FEATURES: KeySpec = {
  value: { kind: "property-string", properties: FORMAT },
  change: (desired, old, current) => {
    const changed = changedFlags(desired, old)
    if (changed.length === 0) return undefined
    if (!truthy(String(current["unprivileged"] ?? ""))) {
      return `changing the feature flags of a privileged container: ${ROOT_ONLY}`
    }
    const others = changed.filter((f) => f !== "nesting")
    return others.length === 0 ? undefined : `changing ${others.join(", ")} (any flag but nesting): ${ROOT_ONLY}`
  }
}
