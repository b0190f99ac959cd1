/**
 * A VM's `cpu` as qemu-server `PVE::QemuServer::CPUConfig` reads it: `$cpu_fmt` checked by
 * `validate_vm_cpu_conf` — a CPU type PVE knows, only the VM-specific flags of
 * `PVE::QemuServer::CPUFlags` `supported_cpu_flags_names`, no `reported-model` (that is for
 * custom model definitions).
 *
 * Which built-in types a node knows comes from its QEMU package (/usr/share/kvm/cpu-models-*.json,
 * read by `initialize_cpu_models`), which the agent cannot see. The table takes the list
 * `initialize_cpu_models` falls back to, the types QEMU defines beyond it, and QEMU's versioned
 * names (`MODEL-vN`): a typo is refused with a suggestion, while a type some node's QEMU lacks
 * is left to PVE to refuse. Custom types (`custom-NAME`) live in the cluster's
 * /etc/pve/virtual-guest/cpu-models.conf, which the agent cannot read either; refusing them
 * would lock a document out of a setting PVE offers, so any `custom-NAME` is taken and PVE
 * answers "Custom cputype 'NAME' not found" if the cluster has none by that name.
 */
import { closest } from "./check.js"
import { makeFormat } from "./formats.js"
import type { KeySpec, PropertyMap } from "./spec.js"

/** `initialize_cpu_models`' hard-coded list (x86_64, then aarch64) and `host`. */
const FALLBACK_MODELS = [
  "486",
  "pentium",
  "pentium2",
  "pentium3",
  "coreduo",
  "core2duo",
  "Conroe",
  "Penryn",
  "Nehalem",
  "Nehalem-IBRS",
  "Westmere",
  "Westmere-IBRS",
  "SandyBridge",
  "SandyBridge-IBRS",
  "IvyBridge",
  "IvyBridge-IBRS",
  "Haswell",
  "Haswell-IBRS",
  "Haswell-noTSX",
  "Haswell-noTSX-IBRS",
  "Broadwell",
  "Broadwell-IBRS",
  "Broadwell-noTSX",
  "Broadwell-noTSX-IBRS",
  "Skylake-Client",
  "Skylake-Client-IBRS",
  "Skylake-Client-noTSX-IBRS",
  "Skylake-Client-v4",
  "Skylake-Server",
  "Skylake-Server-IBRS",
  "Skylake-Server-noTSX-IBRS",
  "Skylake-Server-v4",
  "Skylake-Server-v5",
  "Cascadelake-Server",
  "Cascadelake-Server-v2",
  "Cascadelake-Server-noTSX",
  "Cascadelake-Server-v4",
  "Cascadelake-Server-v5",
  "Cooperlake",
  "Cooperlake-v2",
  "KnightsMill",
  "Icelake-Client",
  "Icelake-Client-noTSX",
  "Icelake-Server",
  "Icelake-Server-noTSX",
  "Icelake-Server-v3",
  "Icelake-Server-v4",
  "Icelake-Server-v5",
  "Icelake-Server-v6",
  "Icelake-Server-v7",
  "SapphireRapids",
  "SapphireRapids-v2",
  "SapphireRapids-v3",
  "SapphireRapids-v4",
  "GraniteRapids",
  "GraniteRapids-v2",
  "GraniteRapids-v3",
  "SierraForest",
  "SierraForest-v2",
  "SierraForest-v3",
  "ClearwaterForest",
  "athlon",
  "phenom",
  "Opteron_G1",
  "Opteron_G2",
  "Opteron_G3",
  "Opteron_G4",
  "Opteron_G5",
  "EPYC",
  "EPYC-IBPB",
  "EPYC-v3",
  "EPYC-v4",
  "EPYC-v5",
  "EPYC-Rome",
  "EPYC-Rome-v2",
  "EPYC-Rome-v3",
  "EPYC-Rome-v4",
  "EPYC-Rome-v5",
  "EPYC-Milan",
  "EPYC-Milan-v2",
  "EPYC-Milan-v3",
  "EPYC-Genoa",
  "EPYC-Genoa-v2",
  "EPYC-Turin",
  "kvm32",
  "kvm64",
  "qemu32",
  "qemu64",
  "max",
  "a64fx",
  "cortex-a35",
  "cortex-a53",
  "cortex-a55",
  "cortex-a57",
  "cortex-a710",
  "cortex-a72",
  "cortex-a76",
  "neoverse-n1",
  "neoverse-n2",
  "neoverse-v1",
  "host"
]
/** x86 types QEMU defines that the fallback list leaves out; a node whose QEMU lists them offers them. */
const QEMU_ONLY_MODELS = ["n270", "Denverton", "Snowridge", "Dhyana", "YongFeng"]
/** `$builtin_models_by_arch`: PVE's own types, defined by flags on top of qemu64. */
const PVE_MODELS = ["x86-64-v2", "x86-64-v2-AES", "x86-64-v3", "x86-64-v4"]

const KNOWN: ReadonlySet<string> = new Set([...FALLBACK_MODELS, ...QEMU_ONLY_MODELS, ...PVE_MODELS])
const UNVERSIONED = [...FALLBACK_MODELS, ...QEMU_ONLY_MODELS].filter((m) => !/-v\d+$/.test(m))

const knownType = (type: string): boolean => {
  if (KNOWN.has(type)) return true
  const m = /^(.+)-v\d+$/.exec(type)
  return m !== null && UNVERSIONED.includes(m[1] ?? "")
}

/** `supported_cpu_flags_names`: the flags a VM's own cpu may switch. */
const VM_FLAGS = [
  "aes",
  "amd-no-ssb",
  "amd-ssbd",
  "hv-evmcs",
  "hv-tlbflush",
  "ibpb",
  "md-clear",
  "nested-virt",
  "pcid",
  "pdpe1gb",
  "spec-ctrl",
  "ssbd",
  "virt-ssbd"
]

const typeProblem = (type: string | undefined): string | undefined => {
  if (type === undefined || type === "" || type === "0") {
    return "missing cputype (the CPU type, e.g. host or x86-64-v2-AES)"
  }
  if (type.startsWith("custom-")) {
    return type === "custom-"
      ? "custom- must be followed by the custom model's name"
      : undefined
  }
  if (knownType(type)) return undefined
  const guess = closest(type, KNOWN)
  return `unknown CPU type ${JSON.stringify(type)}${
    guess === undefined ? "" : ` (did you mean ${guess}?)`
  }; a custom model is written custom-NAME`
}

/** `validate_vm_cpu_conf`, in its order. */
const vmCpuProblem = (cpu: PropertyMap): string | undefined => {
  const type = typeProblem(cpu.get("cputype"))
  if (type !== undefined) return type
  // The format's pattern already holds every flag to a sign and a name.
  const bad = cpu.get("flags")?.split(";").find((f) => !VM_FLAGS.includes(f.slice(1)))
  if (bad !== undefined) {
    return `flags: ${bad} cannot be set per VM (only ${VM_FLAGS.join(", ")}); other flags need a custom CPU model`
  }
  return cpu.has("reported-model")
    ? "reported-model belongs to custom CPU model definitions, not to a VM's cpu"
    : undefined
}

const physBits = makeFormat(
  "phys-bits",
  (v) =>
    v === "host" || (/^\d{1,2}$/.test(v) && Number(v) >= 8 && Number(v) <= 64)
      ? undefined
      : `${JSON.stringify(v)} is not host or a number of bits from 8 to 64`
)

const FLAG = "[+-][a-zA-Z0-9\\-_.]+"

export const CPU: KeySpec = {
  value: {
    kind: "property-string",
    properties: {
      keys: {
        cputype: { type: "string", defaultKey: true },
        // Any string here: `validate_vm_cpu_conf` refuses the key itself, with a clearer message.
        "reported-model": { type: "string" },
        hidden: { type: "boolean" },
        "hv-vendor-id": { type: "string", pattern: /^[a-zA-Z0-9]{1,12}$/ },
        flags: { type: "string", pattern: new RegExp(`^${FLAG}(;${FLAG})*$`) },
        "guest-phys-bits": { type: "integer", minimum: 32, maximum: 64 },
        "phys-bits": { type: "string", format: physBits },
        level: { type: "integer", minimum: 0, maximum: 4294967295 }
      },
      validate: vmCpuProblem
    }
  }
}
