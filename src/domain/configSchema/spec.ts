/**
 * The vocabulary of the config-key tables (qemu.ts, lxc.ts): what a key's value may be, the
 * sub-keys of a property string, and why a key is refused outright. Mirrors the JSON-schema
 * attributes PVE declares on each key (pve-common PVE::JSONSchema `check_prop`: type, format,
 * pattern, maxLength, minimum/maximum, enum) so every number in a table is one read from PVE.
 */
import type { Format } from "./formats.js"

/** One sub-key of a property string (`k=v,k=v`), as PVE's format hashes declare it. */
export interface SubSpec {
  readonly type: "boolean" | "integer" | "number" | "string"
  /** PVE marks optional sub-keys; here the (fewer) mandatory ones are marked instead. */
  readonly required?: boolean
  /** The sub-key a bare value (no `k=`) belongs to, e.g. `virtio` in `virtio,bridge=vmbr0`. */
  readonly defaultKey?: boolean
  readonly minimum?: number
  readonly maximum?: number
  readonly enum?: ReadonlyArray<string>
  /** Matched against the whole value, as PVE anchors `pattern` (`^(?:…)$`). */
  readonly pattern?: RegExp
  readonly format?: Format
  readonly maxLength?: number
  /** Another sub-key that must be present when this one is (PVE `requires`). */
  readonly requires?: string
  readonly unit?: string
}

export interface PropertyFormat {
  readonly keys: Readonly<Record<string, SubSpec>>
  /**
   * Alternative spellings: `alias` is stored under `target`; with `keyAlias` the alias name
   * itself becomes that sub-key's value (qemu `virtio=MAC` = model virtio + macaddr MAC).
   */
  readonly aliases?: Readonly<Record<string, { readonly target: string; readonly keyAlias?: string }>>
  /**
   * What PVE checks across sub-keys once each one passed (a format's validator, or the parser
   * that reads the value back, e.g. qemu-server `PVE::QemuServer::Drive::parse_drive`).
   */
  readonly validate?: (props: PropertyMap) => string | undefined
}

export type ValueSpec =
  | { readonly kind: "boolean" }
  | {
    readonly kind: "integer"
    readonly minimum?: number
    readonly maximum?: number
    readonly unit?: string
    /** PVE takes a value above `above` but stores `above` instead, so it would never read back. */
    readonly clamp?: { readonly above: number; readonly why: string }
  }
  | { readonly kind: "number"; readonly minimum?: number; readonly maximum?: number }
  | { readonly kind: "enum"; readonly values: ReadonlyArray<string> }
  | {
    readonly kind: "string"
    readonly maxLength?: number
    readonly format?: Format
    readonly pattern?: RegExp
    /**
     * Line breaks are fine: `description` is written as comment lines, and list values PVE
     * splits on whitespace and re-joins (tags, lxc nameserver/searchdomain) lose them. Any
     * other value would reach the config file as-is, where a key is one line.
     */
    readonly multiline?: boolean
  }
  /**
   * `properties` absent: only the generic `k=v,…` shape is checked (PVE's format is not
   * restated); a bare value is then filed under `defaultKey`.
   */
  | { readonly kind: "property-string"; readonly properties?: PropertyFormat; readonly defaultKey?: string }

export type PropertyMap = ReadonlyMap<string, string>

export interface KeySpec {
  readonly value: ValueSpec
  /** PVE refuses to delete it ("unable to delete required option"). */
  readonly required?: boolean
  /**
   * A value only root@pam may set (an API token never counts as root@pam: pve-access-control
   * `PVE::RPCEnvironment::check_api2_permissions`, qemu-server `PVE::API2::Qemu`
   * `$check_vm_modify_config_perm`);
   * returns the reason, or undefined when the value is open to the agent.
   */
  readonly rootOnly?: (value: string, props: PropertyMap | undefined) => string | undefined
  /**
   * A rule that depends on what the guest has now: PVE checks the old value too, or compares
   * old and new. `desired` is the value as it would be sent, undefined for a delete; `old` the
   * key's current value, undefined when unset; `current` the whole config. Runs only when the
   * current config is known and the key would be written (`validateConfig`).
   */
  readonly change?: (desired: string | undefined, old: string | undefined, current: CurrentConfig) => string | undefined
}

/** The guest's config as the agent observed it (GET config): what `KeySpec.change` reads. */
export type CurrentConfig = Readonly<Record<string, string | number>>

/** An indexed device family: `prefix0` … `prefix{count-1}`. */
export interface KeyFamily {
  readonly prefix: string
  readonly count: number
  readonly spec: KeySpec
}

/**
 * Why a key is refused. PVE itself rejects the first three for the agent's token:
 * `not-settable` (its config API takes no such parameter), `root-only`, `read-only`. The rest
 * PVE would take, but a desired value could not converge or would do harm: `generated` (PVE
 * fills it in), `alias` (PVE stores it under another key), `masked` (read back as asterisks),
 * `internal` (PVE's own bookkeeping).
 */
export type RefusalKind = "not-settable" | "root-only" | "read-only" | "generated" | "alias" | "masked" | "internal"

export interface Refusal {
  readonly kind: RefusalKind
  readonly reason: string
}

export interface RefusedFamily {
  readonly prefix: string
  readonly count: number
  readonly refusal: Refusal
}

export interface GuestConfigSchema {
  readonly keys: Readonly<Record<string, KeySpec>>
  readonly families: ReadonlyArray<KeyFamily>
  readonly refused: Readonly<Record<string, Refusal>>
  readonly refusedFamilies: ReadonlyArray<RefusedFamily>
}

// Builders keep the tables one line per key.
export const bool: KeySpec = { value: { kind: "boolean" } }
export const int = (minimum?: number, maximum?: number, unit?: string): KeySpec => ({
  value: {
    kind: "integer",
    ...(minimum === undefined ? {} : { minimum }),
    ...(maximum === undefined ? {} : { maximum }),
    ...(unit === undefined ? {} : { unit })
  }
})
export const num = (minimum?: number, maximum?: number): KeySpec => ({
  value: {
    kind: "number",
    ...(minimum === undefined ? {} : { minimum }),
    ...(maximum === undefined ? {} : { maximum })
  }
})
export const oneOf = (...values: ReadonlyArray<string>): KeySpec => ({ value: { kind: "enum", values } })
export const str = (extra: Omit<Extract<ValueSpec, { kind: "string" }>, "kind"> = {}): KeySpec => ({
  value: { kind: "string", ...extra }
})
export const props = (properties: PropertyFormat): KeySpec => ({ value: { kind: "property-string", properties } })
export const refuse = (kind: RefusalKind, reason: string): Refusal => ({ kind, reason })
