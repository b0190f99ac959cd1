/**
 * The config-key table (src/domain/configSchema) against the simulator: values the table
 * accepts are written through the simulator's PUT config, keys the table refuses and values
 * just outside its ranges are tried too. Both encode PVE's schema, so any difference is a
 * discrepancy to settle against PVE's sources; the known ones are listed here, so the test
 * fails both when a new one appears and when one is resolved.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  CONFIG_SCHEMA,
  type DesiredScalar,
  type FormatName,
  type KeySpec,
  keySpec,
  refusalOf,
  validateConfig,
  type ValueSpec
} from "../../src/domain/configSchema.js"
import type { GuestType } from "../../src/domain/Guest.js"
import { startSimulator } from "../../src/sim/Simulator.js"
import { request, type SimResponse } from "./client.js"

const FORMAT_EXAMPLES: Record<FormatName, ReadonlyArray<string>> = {
  "dns-name": ["web", "web-1.example.com"],
  "dns-name-list": ["example.com", "a.example.com b.example.com"],
  "tag-list": ["prod", "prod;web", "a,b c"],
  "startup-order": ["order=1", "2,up=30", "order=3,up=10,down=60"],
  "hotplug-features": ["0", "1", "network,disk,usb", "cpu,memory"],
  "storage-id": ["local-lvm"],
  "volume-id": ["local:snippets/x.sh"],
  "bridge-id": ["vmbr0"],
  configid: ["gpu"],
  "mac-addr": ["BC:24:11:00:00:01"],
  cpuset: ["0,5,8-11"],
  ipv4: ["192.0.2.1"],
  ipv6: ["2001:db8::1"],
  "ipv4-config": ["dhcp"],
  "ipv6-config": ["auto"],
  "address-list": ["192.0.2.53", "192.0.2.53 2001:db8::53"],
  "ip-ll-iface-list": ["192.0.2.53", "192.0.2.53 fe80::1%eth0"],
  urlencoded: ["QM00001", "disk%20one"],
  // A real key: PVE runs every line through `ssh-keygen -l`.
  "ssh-public-keys": [
    "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIFLWHw4QWvGti1Kgu9i6AijCfov0F5KQIH4n7dH%2BDbE%2B%20me%40host"
  ],
  "ct-timezone": ["host", "Europe/Vienna"],
  "lxc-mp-string": ["/data"],
  "lxc-dev-string": ["/dev/ttyUSB0"],
  "disk-size": ["8G"],
  "qm-bootdev-list": ["scsi0"],
  "qm-bootdisk": ["scsi0"],
  "volume-id-or-qm-path": ["local-lvm:vm-200-disk-0", "none"],
  "volume-id-or-absolute-path": ["local:import/disk.qcow2"],
  "phys-bits": ["host", "40"]
}

/** Values for property strings and free strings, by key or by family (`netN`). */
const EXAMPLES: Readonly<Record<string, ReadonlyArray<string>>> = {
  "qemu/memory": ["4096", "current=2048"],
  "qemu/agent": ["1", "enabled=1,fstrim_cloned_disks=1", "0"],
  "qemu/boot": ["order=scsi0;net0", "cdn"],
  "qemu/cpu": ["host", "x86-64-v2-AES", "cputype=EPYC-Rome-v4,flags=+aes;-pcid"],
  "qemu/machine": ["q35", "pc-i440fx-9.2+pve1", "type=q35,viommu=virtio", "type=q35,viommu=intel,aw-bits=48"],
  "qemu/vga": ["std", "type=virtio,memory=32", "serial0", "type=qxl,clipboard=vnc"],
  "qemu/watchdog": ["i6300esb", "model=ib700,action=reset"],
  "qemu/audio0": ["device=ich9-intel-hda,driver=spice"],
  "qemu/rng0": ["/dev/urandom", "source=/dev/urandom,max_bytes=1024,period=1000"],
  "qemu/cicustom": ["user=local:snippets/user.yaml"],
  "qemu/efidisk0": ["local-lvm:vm-200-disk-1,efitype=4m,pre-enrolled-keys=1"],
  "qemu/tpmstate0": ["local-lvm:vm-200-disk-2,version=v2.0"],
  "qemu/startdate": ["now", "2006-06-17T16:01:21"],
  "qemu/ciuser": ["admin"],
  "qemu/searchdomain": ["example.com"],
  "qemu/netN": [
    "virtio,bridge=vmbr0",
    "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1,tag=10",
    "e1000,bridge=vmbr1,link_down=1"
  ],
  "qemu/ipconfigN": ["ip=dhcp", "ip=192.0.2.10/24,gw=192.0.2.1", "ip6=auto"],
  "qemu/numaN": ["cpus=0-1,memory=1024"],
  "qemu/virtiofsN": ["dirid=share1", "share1,cache=always"],
  "qemu/diskN": [
    "local-lvm:vm-200-disk-0,size=32G",
    "none,media=cdrom",
    "local-lvm:vm-200-disk-0,mbps=10,mbps_max=20,bps_max_length=5"
  ],
  "qemu/virtioN": ["local-lvm:vm-200-disk-0,size=32G,iothread=1"],
  "qemu/serialN": ["socket"],
  "qemu/usbN": ["spice", "mapping=yubikey"],
  "qemu/hostpciN": ["mapping=gpu", "mapping=gpu,pcie=1,x-vga=1"],
  "lxc/features": ["nesting=1", "nesting=1,keyctl=1"],
  "lxc/rootfs": ["local-lvm:vm-201-disk-0,size=8G"],
  "lxc/entrypoint": ["/sbin/init"],
  "lxc/env": ["FOO=bar"],
  "lxc/netN": [
    "name=eth0,bridge=vmbr0,ip=dhcp",
    "name=eth1,bridge=vmbr1,ip=192.0.2.10/24,gw=192.0.2.1,tag=5",
    "name=eth2,host-managed=1,ip6=dhcp"
  ],
  "lxc/mpN": ["local-lvm:vm-201-disk-1,mp=/data,size=4G"]
}

const exampleKey = (type: GuestType, key: string): string =>
  type === "qemu" && /^(ide|sata|scsi)\d+$/.test(key)
    ? "qemu/diskN"
    : `${type}/${key.replace(/^(net|ipconfig|numa|virtiofs|virtio|serial|usb|hostpci|mp)\d+$/, "$1N")}`

/** Boundary values and examples a key's spec accepts; undefined when an example is missing. */
const samples = (type: GuestType, key: string, spec: ValueSpec): ReadonlyArray<DesiredScalar> | undefined => {
  const given = EXAMPLES[exampleKey(type, key)]
  if (given !== undefined) return given
  switch (spec.kind) {
    case "boolean":
      return [true, false]
    case "integer": {
      const lo = spec.minimum ?? 0
      // balloon must stay ≤ memory (PVE's own check), whatever memory the guest has.
      const hi = key === "balloon"
        ? 16
        : Math.min(spec.maximum ?? lo + 1024, spec.clamp?.above ?? Number.POSITIVE_INFINITY)
      return [lo, hi, String(Math.floor((lo + hi) / 2))]
    }
    case "number":
      return [spec.minimum ?? 0, spec.maximum ?? 100, "0.5"]
    case "enum":
      return spec.values
    case "string":
      return spec.format !== undefined
        ? FORMAT_EXAMPLES[spec.format.name]
        : spec.maxLength !== undefined
        ? ["text", "x".repeat(spec.maxLength)]
        : undefined
    case "property-string":
      return undefined
  }
}

const outOfRange = (spec: ValueSpec): ReadonlyArray<DesiredScalar> => {
  switch (spec.kind) {
    case "integer":
      return [
        ...(spec.minimum === undefined ? [] : [spec.minimum - 1]),
        ...(spec.maximum === undefined ? [] : [spec.maximum + 1])
      ]
    case "number":
      return spec.maximum === undefined ? [] : [spec.maximum + 1]
    case "enum":
      return [`${spec.values[0] ?? ""}x`]
    case "boolean":
      return [2]
    case "string":
      return spec.maxLength === undefined ? [] : ["x".repeat(spec.maxLength + 1)]
    case "property-string":
      return []
  }
}

/** Values PVE's formats refuse (pve-common PVE::JSONSchema, qemu-server, pve-container), by key. */
const INVALID: Readonly<Record<string, ReadonlyArray<string>>> = {
  "qemu/startup": ["bogus", "0"],
  "qemu/hotplug": ["disk,netwrk"],
  "qemu/net0": ["bridge=vmbr0", "virtio,tag=4095", "virtio=01:00:00:00:00:01"],
  "qemu/memory": ["current=8", "lots"],
  "qemu/agent": ["fstrim_cloned_disks=1"],
  "qemu/boot": ["order=efidisk0"],
  "qemu/name": ["web_1"],
  "qemu/tags": ["we!b"],
  "qemu/serial0": ["/tmp/x"],
  "qemu/scsi0": [
    "",
    "local-lvm:vm-200-disk-0,bogus=1",
    "none,media=cdrom,snapshot=1",
    "none,media=cdrom,format=raw",
    "local-lvm:vm-200-disk-0,mbps_max=20",
    "local-lvm:vm-200-disk-0,bps=1000,mbps=1",
    "local-lvm:vm-200-disk-0,iops=10,iops_rd=5",
    "local-lvm:8,import-from=local:import/disk.qcow2"
  ],
  "qemu/virtio0": ["none,media=cdrom", "local-lvm:vm-200-disk-0,ssd=1"],
  "qemu/efidisk0": ["x", "local-lvm:0,import-from=local:import/vars.raw"],
  "qemu/tpmstate0": ["local-lvm:0,import-from=local:import/tpm.raw"],
  "qemu/virtiofs0": ["cache=always"],
  "qemu/cpu": ["kvm65", "Host", "custom-", "flags=+aes", "host,flags=+sse4", "host,reported-model=kvm64"],
  "qemu/usb0": ["usb3=1"],
  "qemu/hostpci0": ["pcie=1", "mapping=gpu,romfile=vbios.rom"],
  "qemu/sshkeys": ["ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIAbc", "%23%20a%20comment"],
  "qemu/vga": ["type=serial0,clipboard=vnc"],
  "qemu/machine": ["type=pc,viommu=intel", "q35,aw-bits=39", "type=q35,viommu=intel,aw-bits=40"],
  "lxc/net0": ["bridge=vmbr0", "name=eth0,mtu=63", "name=eth0,ip=192.0.2.1/33", "name=eth0,host-managed=1,ip6=auto"],
  "lxc/hostname": [`${"a".repeat(250)}.abcde`],
  "lxc/features": ["nesting=2", "bogus=1"],
  "lxc/rootfs": ["local-lvm:vm-201-disk-0,bogus=1"],
  "lxc/timezone": ["not a zone"],
  "lxc/nameserver": ["not-an-ip"],
  "lxc/mp0": ["local-lvm:8"]
}

const wire = (v: DesiredScalar): string => (typeof v === "boolean" ? (v ? "1" : "0") : String(v))

const tableKeys = (type: GuestType): ReadonlyArray<readonly [string, KeySpec]> => {
  const schema = CONFIG_SCHEMA[type]
  const keys = [
    ...Object.keys(schema.keys),
    ...schema.families.flatMap((f) => [`${f.prefix}0`, `${f.prefix}${f.count - 1}`])
  ]
  return keys.flatMap((k) => {
    const s = keySpec(type, k)
    return s === undefined ? [] : [[k, s] as const]
  })
}

/** Keys PVE itself rejects for the agent's token (not settable, root-only, read-only). */
const refusedByPve = (type: GuestType): ReadonlyArray<string> => {
  const schema = CONFIG_SCHEMA[type]
  const keys = [...Object.keys(schema.refused), ...schema.refusedFamilies.map((f) => `${f.prefix}0`)]
  const pveRefuses = keys.filter((k) =>
    ["not-settable", "root-only", "read-only"].includes(refusalOf(type, k)?.kind ?? "")
  )
  // `lock` last: if it were taken, the guest would refuse every later write.
  return [...pveRefuses.filter((k) => k !== "lock"), ...pveRefuses.filter((k) => k === "lock")]
}

const reason = (r: SimResponse): string => {
  const body = r.body
  const errors = typeof body === "object" && body !== null && "errors" in body ? JSON.stringify(body.errors) : ""
  return `${r.status} ${r.statusMessage}${errors === "" ? "" : ` ${errors}`}`
}

/**
 * Known differences between the table and the simulator, each to be checked against PVE's
 * sources (qemu-server 9.2.6, pve-container 6.1.10) before it is listed here. Each line: what
 * happened, in the simulator. None today.
 */
const KNOWN: ReadonlyArray<string> = []

describe("config-key table vs the simulator", () => {
  it.scoped("accepted values are written, refused keys and out-of-range values are refused", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulator({
        https: false,
        authFailureDelay: 0,
        taskDuration: 5,
        guests: [
          // The devices the boot order example names exist, as PVE checks.
          {
            vmid: 200,
            type: "qemu",
            status: "stopped",
            config: { memory: 2048, name: "vm", scsi0: "local-lvm:vm-200-disk-0,size=32G", net0: "virtio,bridge=vmbr0" }
          },
          // Unprivileged: PVE leaves a privileged container's feature flags to root@pam.
          {
            vmid: 201,
            type: "lxc",
            status: "stopped",
            config: {
              memory: 512,
              hostname: "ct",
              ostype: "debian",
              rootfs: "local-lvm:vm-201-disk-0,size=8G",
              unprivileged: 1
            }
          }
        ]
      })
      const put = (type: GuestType, form: Record<string, string>) =>
        request(sim, `/nodes/pve1/${type}/${type === "qemu" ? 200 : 201}/config`, { method: "PUT", form })
      // One line per key and kind of difference: the first value that showed it.
      const found = new Map<string, string>()
      const note = (type: GuestType, key: string, kind: string, detail = "") => {
        if (!found.has(`${type} ${key} ${kind}`)) {
          found.set(`${type} ${key} ${kind}`, `${type} ${key}: ${kind}${detail === "" ? "" : ` (${detail})`}`)
        }
      }
      const unknownToSim = (r: SimResponse): boolean =>
        /property is not defined in schema|unknown option/.test(reason(r))
      const missingExamples: Array<string> = []
      for (const type of ["qemu", "lxc"] as const) {
        for (const [key, spec] of tableKeys(type)) {
          const values = samples(type, key, spec.value)
          if (values === undefined) {
            missingExamples.push(`${type}/${key}`)
            continue
          }
          for (const value of values) {
            expect([type, key, value, validateConfig(type, { [key]: value })]).toEqual([type, key, value, []])
            // Who may write a value depends on what the guest holds (PVE's old-vs-new rules): the
            // table judges it with the guest's config as it is now, as plan does.
            const current = (yield* Effect.orDie(sim.cluster.view(type === "qemu" ? 200 : 201))).config
            const refused = validateConfig(type, { [key]: value }, current).length > 0
            const r = yield* put(type, { [key]: wire(value) })
            if (r.status !== 200 && unknownToSim(r)) note(type, key, "unknown to the simulator")
            else if (r.status !== 200 && !refused) {
              note(type, key, "simulator refuses a value the table accepts", `${wire(value)} → ${reason(r)}`)
            } else if (r.status === 200 && refused) {
              note(type, key, "simulator accepts a value the table refuses for this guest", wire(value))
            }
          }
          for (const value of outOfRange(spec.value)) {
            const r = yield* put(type, { [key]: wire(value) })
            if (r.status === 200) note(type, key, "simulator accepts a value out of the table's range", wire(value))
          }
          if (spec.required !== true) {
            const r = yield* put(type, { delete: key })
            if (r.status !== 200 && unknownToSim(r)) note(type, key, "unknown to the simulator")
            else if (r.status !== 200) note(type, key, "simulator refuses the delete", reason(r))
          }
        }
        for (const [typedKey, values] of Object.entries(INVALID).filter(([k]) => k.startsWith(`${type}/`))) {
          const key = typedKey.slice(type.length + 1)
          for (const value of values) {
            expect([key, value, validateConfig(type, { [key]: value }).length]).toEqual([key, value, 1])
            const r = yield* put(type, { [key]: value })
            if (r.status === 200) note(type, key, "simulator accepts a value the table refuses", JSON.stringify(value))
          }
        }
        for (const key of refusedByPve(type)) {
          const r = yield* put(type, { [key]: key === "lock" ? "backup" : "x" })
          if (r.status === 200) {
            note(type, key, `simulator accepts a key PVE refuses (${refusalOf(type, key)?.kind ?? ""})`)
          }
        }
      }
      expect(missingExamples).toEqual([])
      expect([...found.values()].sort()).toEqual([...KNOWN].sort())
    }))
})
