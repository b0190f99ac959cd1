/**
 * A guest's configuration as PVE returns it (qemu-server `PVE::API2::Qemu::vm_config`, pve-container
 * `PVE::API2::LXC::Config::vm_config`): a flat object of keys whose
 * values are strings or JSON numbers, plus `digest`. Values are kept exactly as read; the
 * normalizers decide what "equal" means.
 */
import { Schema } from "effect"

/** One config value as PVE sends it: integers/booleans as numbers, everything else a string. */
export const ConfigValue = Schema.Union(Schema.String, Schema.Number)
export type ConfigValue = typeof ConfigValue.Type

export const ConfigValues = Schema.Record({ key: Schema.String, value: ConfigValue })
export type ConfigValues = typeof ConfigValues.Type

/**
 * GET .../config. lxc may add `lxc` (raw `lxc.*` lines as `[key, value]` pairs): those are
 * not manageable through this API and are kept apart, never compared.
 */
export const GuestConfigResponse = Schema.Struct(
  { digest: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{40}$/)) },
  Schema.Record({ key: Schema.String, value: Schema.Union(ConfigValue, Schema.Array(Schema.Unknown)) })
)

export interface GuestConfig {
  readonly digest: string
  /** Every scalar key except `digest`. */
  readonly values: ConfigValues
}

export const toGuestConfig = (raw: typeof GuestConfigResponse.Type): GuestConfig => {
  const values: Record<string, ConfigValue> = {}
  for (const [key, value] of Object.entries(raw)) {
    if (key === "digest" || Array.isArray(value)) continue
    if (typeof value === "string" || typeof value === "number") values[key] = value
  }
  return { digest: raw.digest, values }
}

/**
 * One row of GET .../pending (pve-guest-common `PVE::GuestHelpers::config_with_pending_array`):
 * `value` is the live value, `pending` the
 * queued one; `delete` 1 (or 2 = forced) marks a queued removal. PVE adds a `digest` row.
 */
export const PendingEntry = Schema.Struct({
  key: Schema.String,
  value: Schema.optional(ConfigValue),
  pending: Schema.optional(ConfigValue),
  delete: Schema.optional(Schema.Number)
})
export type PendingEntry = typeof PendingEntry.Type

/** Keys with a change waiting for the next start (the "restart required" signal). */
export const pendingKeys = (entries: ReadonlyArray<PendingEntry>): ReadonlyArray<string> =>
  entries
    .filter((e) => e.key !== "digest" && (e.pending !== undefined || (e.delete ?? 0) > 0))
    .map((e) => e.key)

/**
 * The config PVE's default GET .../config would answer (pending merged, pve-guest-common
 * `PVE::AbstractConfig::load_current_config`),
 * derived from the GET .../pending rows alone: a pending value wins over the live one, a pending
 * delete (1 or 2) removes the key, and the `digest` row gives the digest (of the same file, so
 * the same digest GET config reports). Undefined without a well-formed digest row: such an
 * answer is not a basis for a guarded write.
 */
export const configFromPending = (entries: ReadonlyArray<PendingEntry>): GuestConfig | undefined => {
  let digest: string | undefined
  const values: Record<string, ConfigValue> = {}
  for (const e of entries) {
    if (e.key === "digest") {
      if (typeof e.value === "string" && /^[0-9a-f]{40}$/.test(e.value)) digest = e.value
      continue
    }
    if ((e.delete ?? 0) > 0) continue
    const value = e.pending ?? e.value
    if (value !== undefined) values[e.key] = value
  }
  return digest === undefined ? undefined : { digest, values }
}
