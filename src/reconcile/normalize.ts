/**
 * Field normalizers (docs/architecture.md, invariant 2): desired and observed values are compared only
 * after both pass through the same normalizer for their guest type and key, so PVE's
 * write→read transforms (sources at each normalizer, normalizers/*.ts) never read as drift.
 * Pure; every normalizer is idempotent (`n(n(x)) = n(x)`).
 */
import type { GuestType } from "../domain/Guest.js"
import type { ConfigValue } from "../domain/GuestConfig.js"
import { diskFor, LXC_VOLUME_RE, QEMU_DISK_RE, qemuCpu, qemuHotplug } from "./normalizers/devices.js"
import { lxcNet, NET_KEY_RE, qemuNet } from "./normalizers/net.js"
import { lxcFeatures, qemuAgent, qemuMemory, qemuStartup } from "./normalizers/propertyString.js"
import {
  booleanField,
  exactField,
  lxcDescription,
  lxcDnsListField,
  numberField,
  qemuDescription,
  sshkeysField,
  tagsField
} from "./normalizers/scalars.js"
import type { FieldNormalizer, InputValue, NormalizeContext } from "./normalizers/types.js"

export type { FieldNormalizer, InputValue, NormalizeContext, TagStyle } from "./normalizers/types.js"

/** Canonical text of a value; `undefined` = absent with no default (or a key never compared). */
export type NormalizedValue = string | undefined

/** PVE's datacenter default tag-style: lowercase, sorted (`PVE::GuestHelpers::get_unique_tags`). */
export const defaultNormalizeContext: NormalizeContext = {
  tagStyle: { caseSensitive: false, ordering: "alphabetical" }
}

/**
 * Keys PVE generates or maintains itself (parent/meta/vmgenid/smbios1/digest, lock, and
 * runningmachine/runningcpu after hibernation: qemu-server `PVE::QemuServer::parse_vm_config`,
 * `json_config_properties`). Never compared, never written.
 */
export const IGNORED_KEYS: ReadonlySet<string> = new Set([
  "digest",
  "lock",
  "parent",
  "meta",
  "vmgenid",
  "smbios1",
  "runningmachine",
  "runningcpu"
])

const shared: ReadonlyArray<readonly [string, FieldNormalizer]> = [
  ["tags", tagsField],
  // Booleans read back as 1/0 or absent = default 0 (`PVE::QemuServer::check_type`).
  ["onboot", booleanField("0")],
  ["protection", booleanField("0")],
  ["template", booleanField("0")],
  // Integers come back as JSON numbers, `cpulimit` as a string (`check_type`); 0 = no limit.
  ["cpulimit", numberField(0)],
  ["cpuunits", numberField()],
  ["startup", qemuStartup]
]

const qemu: ReadonlyMap<string, FieldNormalizer> = new Map([
  ...shared,
  ["description", qemuDescription],
  ["numa", booleanField("0")],
  ["acpi", booleanField("1")],
  ["kvm", booleanField("1")],
  ["tablet", booleanField("1")],
  ["reboot", booleanField("1")],
  ["freeze", booleanField("0")],
  ["localtime", booleanField()],
  // qemu defaults: 1 socket × 1 core, 512 MiB (qemu-server `PVE::QemuServer` `$confdesc`,
  // `PVE::QemuServer::Memory`).
  ["cores", numberField(1)],
  ["sockets", numberField(1)],
  ["vcpus", numberField()],
  ["balloon", numberField()],
  ["shares", numberField()],
  ["migrate_downtime", numberField()],
  ["migrate_speed", numberField()],
  ["memory", qemuMemory],
  ["agent", qemuAgent],
  ["sshkeys", sshkeysField],
  ["cpu", qemuCpu],
  ["hotplug", qemuHotplug]
])

const lxc: ReadonlyMap<string, FieldNormalizer> = new Map([
  ...shared,
  ["description", lxcDescription],
  ["unprivileged", booleanField("0")],
  ["console", booleanField("1")],
  ["debug", booleanField("0")],
  // lxc `cores` absent = all host cores: no default equivalent (pve-container `PVE::LXC::Config` `$confdesc`).
  ["cores", numberField()],
  // lxc memory/swap are integer MiB, default 512 (pve-container `PVE::LXC::Config` `$confdesc`).
  ["memory", numberField(512)],
  ["swap", numberField(512)],
  ["features", lxcFeatures],
  ["nameserver", lxcDnsListField],
  ["searchdomain", lxcDnsListField]
])

const registry: Readonly<Record<GuestType, ReadonlyMap<string, FieldNormalizer>>> = { qemu, lxc }

/** The normalizer PVE's behaviour calls for on this key; exact compare for unknown keys. */
export const normalizerFor = (type: GuestType, key: string): FieldNormalizer => {
  const known = registry[type].get(key)
  if (known !== undefined) return known
  if (NET_KEY_RE.test(key)) return type === "qemu" ? qemuNet : lxcNet
  if ((type === "qemu" && QEMU_DISK_RE.test(key)) || (type === "lxc" && LXC_VOLUME_RE.test(key))) {
    return diskFor(type, key)
  }
  return exactField
}

/**
 * Keys whose absence has a present equivalent, per type, with that canonical value (e.g.
 * `onboot` → "0"), so "desired 0, observed absent" is not a difference.
 */
export const ABSENT_DEFAULTS: Readonly<Record<GuestType, ReadonlyMap<string, string>>> = {
  qemu: absentDefaultsOf(qemu),
  lxc: absentDefaultsOf(lxc)
}

function absentDefaultsOf(map: ReadonlyMap<string, FieldNormalizer>): ReadonlyMap<string, string> {
  const out = new Map<string, string>()
  for (const [key, n] of map) if (n.absent !== undefined) out.set(key, n.absent)
  return out
}

/** Canonical value of `key` (absent → its default, when PVE has one). */
export const normalizeValue = (
  type: GuestType,
  key: string,
  value: InputValue | undefined,
  ctx: NormalizeContext = defaultNormalizeContext
): NormalizedValue => {
  if (IGNORED_KEYS.has(key)) return undefined
  const n = normalizerFor(type, key)
  return value === undefined ? n.absent : n.normalize(value, ctx)
}

/** Whether desired and observed are the same state for PVE; ignored keys are always equal. */
export const isEqual = (
  type: GuestType,
  key: string,
  desired: InputValue | undefined,
  observed: InputValue | undefined,
  ctx: NormalizeContext = defaultNormalizeContext
): boolean => {
  if (IGNORED_KEYS.has(key)) return true
  const d = normalizeValue(type, key, desired, ctx)
  const o = normalizeValue(type, key, observed, ctx)
  if (d === undefined || o === undefined) return d === o
  const equal = normalizerFor(type, key).equal
  return equal === undefined ? d === o : equal(d, o)
}

/** The value a SetConfig writes for a differing key (e.g. a NIC keeps its observed MAC). */
export const valueToSet = (
  type: GuestType,
  key: string,
  desired: ConfigValue,
  observed: ConfigValue | undefined,
  ctx: NormalizeContext = defaultNormalizeContext
): ConfigValue => {
  const toWrite = normalizerFor(type, key).toWrite
  return toWrite === undefined ? desired : toWrite(desired, observed, ctx)
}
