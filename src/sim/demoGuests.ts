/**
 * The guests `felhom-agent sim` serves by default and the demo (`npm start`) runs against: the
 * ones `examples/desired.yaml` describes and a selftest guest, so the README's walk-through
 * works as written. They
 * are seeded with PVE's read-back quirks (an lxc description with trailing newlines, tags not
 * in PVE's stored order, booleans as 0/1), none of which may ever show up as drift.
 */
import type { SimGuestSeed } from "./Simulator.js"

export const DEMO_GUESTS: ReadonlyArray<SimGuestSeed> = [
  {
    vmid: 100,
    type: "qemu",
    status: "running",
    config: {
      name: "web",
      memory: 2048,
      cores: 2,
      description: "Public web server",
      tags: "prod;web",
      net0: "virtio,bridge=vmbr0"
    }
  },
  {
    vmid: 101,
    type: "lxc",
    status: "running",
    config: {
      hostname: "db",
      memory: 1024,
      cores: 1,
      description: "PostgreSQL 16\n\n",
      tags: "Prod DB",
      ostype: "debian",
      rootfs: "local-lvm:vm-101-disk-0,size=8G"
    }
  },
  { vmid: 102, type: "qemu", status: "stopped", config: { name: "batch", memory: 1024, cores: 1 } },
  {
    vmid: 103,
    type: "lxc",
    status: "running",
    config: { hostname: "cache", memory: 512, onboot: 0, ostype: "debian", rootfs: "local-lvm:vm-103-disk-0,size=8G" }
  },
  { vmid: 104, type: "qemu", status: "stopped", config: { name: "backup-target", memory: 1024 } },
  { vmid: 105, type: "qemu", status: "running", config: { name: "unmanaged", memory: 512 } },
  // The designated selftest guest README's `selftest --vmid 9000` exercises.
  { vmid: 9000, type: "qemu", status: "running", config: { name: "selftest", memory: 512, tags: "felhom-selftest" } }
]

/** Locks the demo holds from the start: 104 is in a backup job, so plans skip it with a reason. */
export const DEMO_LOCKS: ReadonlyArray<readonly [vmid: number, lock: string]> = [[104, "backup"]]
