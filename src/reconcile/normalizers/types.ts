/**
 * The contract every field normalizer keeps (docs/architecture.md, invariant 2): map a config value to a
 * canonical string so that values PVE treats as the same compare equal, and be idempotent —
 * normalizing a canonical string again returns it unchanged.
 */
import type { ConfigValue } from "../../domain/GuestConfig.js"

/** A value as it can reach a normalizer: from PVE (string/number) or a document (also boolean). */
export type InputValue = ConfigValue | boolean

/** Datacenter `tag-style` (pve-guest-common `PVE::GuestHelpers::get_unique_tags`): how PVE stores tags. */
export interface TagStyle {
  /** `case-sensitive=1`: tags are not lowercased and sort case-sensitively. */
  readonly caseSensitive: boolean
  /** `ordering=config`: tags keep their input order instead of being sorted. */
  readonly ordering: "alphabetical" | "config"
}

export interface NormalizeContext {
  readonly tagStyle: TagStyle
}

export interface FieldNormalizer {
  /** Family name, for reports and tests ("boolean", "tags", "net", …). */
  readonly family: string
  /** Canonical form of a present value; must satisfy `normalize(normalize(x)) === normalize(x)`. */
  readonly normalize: (value: InputValue, ctx: NormalizeContext) => string
  /** Canonical form of the key being absent, when absence means a default PVE applies. */
  readonly absent?: string
  /** Equality of two canonical values; `===` unless the family has a looser rule. */
  readonly equal?: (desired: string, observed: string) => boolean
  /** What to write for a differing key; the desired value as given unless the family knows better. */
  readonly toWrite?: (desired: ConfigValue, observed: ConfigValue | undefined, ctx: NormalizeContext) => ConfigValue
}
