import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { startSimulator } from "../../src/sim/Simulator.js"
import { dataObject, dataRows, request, row } from "./client.js"

const start = (tagStyle?: { caseSensitive?: boolean; ordering?: "alphabetical" | "config" }) =>
  startSimulator({
    https: false,
    authFailureDelay: 0,
    ...(tagStyle ? { tagStyle } : {}),
    guests: [
      { vmid: 100, type: "qemu", config: { memory: 2048, cores: 2, cpulimit: "1.5", onboot: 1 } },
      { vmid: 101, type: "lxc" }
    ]
  })
const startRunning = () =>
  startSimulator({
    https: false,
    authFailureDelay: 0,
    guests: [{ vmid: 102, type: "lxc", status: "running" }, { vmid: 103, type: "qemu", status: "running" }]
  })
const put = (s: Parameters<typeof request>[0], path: string, form: Record<string, string>) =>
  request(s, path, { method: "PUT", form })

const qemuConfig = (s: Parameters<typeof request>[0], vmid = 100) =>
  request(s, `/nodes/pve1/qemu/${vmid}/config`).pipe(Effect.map(dataObject))
const lxcConfig = (s: Parameters<typeof request>[0], vmid = 101) =>
  request(s, `/nodes/pve1/lxc/${vmid}/config`).pipe(Effect.map(dataObject))

// Sources in src/sim/GuestState.ts, src/sim/PropertyString.ts and src/sim/api/Views.ts.
describe("round-trip quirks", () => {
  it.scoped("description: qemu trimmed, lxc exactly one trailing newline, empty deletes", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* put(s, "/nodes/pve1/qemu/100/config", { description: "a:%\n\nb  \n\n" })
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/100/config")).description).toBe("a:%\n\nb")
      yield* put(s, "/nodes/pve1/lxc/101/config", { description: "x\n\n" })
      expect(dataObject(yield* request(s, "/nodes/pve1/lxc/101/config")).description).toBe("x\n")
      yield* put(s, "/nodes/pve1/lxc/101/config", { description: "a\n\nb" })
      expect(dataObject(yield* request(s, "/nodes/pve1/lxc/101/config")).description).toBe("a\n\nb\n")
      const view = s.cluster.view(100)
      expect(view._tag === "Right" && view.right.configText.startsWith("#a%3A%25\n#\n#b  \n")).toBe(true)
      yield* put(s, "/nodes/pve1/qemu/100/config", { description: "" })
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/100/config")).description).toBeUndefined()
    }))

  it.scoped("tags: split, dedupe, lowercase, sort, join with ;", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* put(s, "/nodes/pve1/qemu/100/config", { tags: "Web, db;web  Alpha" })
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/100/config")).tags).toBe("alpha;db;web")
      const rows = dataRows(yield* request(s, "/cluster/resources", { query: { type: "vm" } }))
      expect(row(rows, 0).tags).toBe("alpha;db;web")
    }))

  it.scoped("tags respect tagStyle (case-sensitive, config order)", () =>
    Effect.gen(function*() {
      const s = yield* start({ caseSensitive: true, ordering: "config" })
      yield* put(s, "/nodes/pve1/qemu/100/config", { tags: "Web;db;Web" })
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/100/config")).tags).toBe("Web;db")
    }))

  it.scoped("lxc nameserver/searchdomain: split_list items joined by one space, order and repeats kept; qemu's as given", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* put(s, "/nodes/pve1/lxc/101/config", {
        nameserver: "1.1.1.1,8.8.8.8;;  1.1.1.1\tfe80::1%eth0",
        searchdomain: " b.example.com,a.example.com "
      })
      const c = dataObject(yield* request(s, "/nodes/pve1/lxc/101/config"))
      expect([c.nameserver, c.searchdomain]).toEqual([
        "1.1.1.1 8.8.8.8 1.1.1.1 fe80::1%eth0",
        "b.example.com a.example.com"
      ])
      // A NUL-separated list (PVE's other split_list form) is stored the same way.
      yield* put(s, "/nodes/pve1/lxc/101/config", { nameserver: "9.9.9.9\u00002001:db8::53" })
      expect(dataObject(yield* request(s, "/nodes/pve1/lxc/101/config")).nameserver).toBe("9.9.9.9 2001:db8::53")
      yield* put(s, "/nodes/pve1/qemu/100/config", { nameserver: "1.1.1.1,8.8.8.8" })
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/100/config")).nameserver).toBe("1.1.1.1,8.8.8.8")
    }))

  it.scoped("net canonicalization: qemu model=MAC first, sorted, bools 1/0, MAC kept or generated; lxc name first + hwaddr + type", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* put(s, "/nodes/pve1/qemu/100/config", {
        net1: "firewall=true,bridge=vmbr1,model=virtio,macaddr=aa:bb:cc:dd:ee:ff"
      })
      yield* put(s, "/nodes/pve1/qemu/100/config", { net2: "tag=5,e1000,bridge=vmbr0" })
      const c = dataObject(yield* request(s, "/nodes/pve1/qemu/100/config"))
      expect(c.net1).toBe("virtio=aa:bb:cc:dd:ee:ff,bridge=vmbr1,firewall=1")
      expect(c.net2).toMatch(/^e1000=BC:24:11:[0-9A-F]{2}:[0-9A-F]{2}:[0-9A-F]{2},bridge=vmbr0,tag=5$/)
      yield* put(s, "/nodes/pve1/lxc/101/config", { net1: "ip=dhcp,bridge=vmbr0,name=eth1" })
      expect(dataObject(yield* request(s, "/nodes/pve1/lxc/101/config")).net1).toMatch(
        /^name=eth1,bridge=vmbr0,hwaddr=BC:24:11:[0-9A-F:]{8},ip=dhcp,type=veth$/
      )
    }))

  it.scoped("JSON types: qemu memory string, ints numbers, booleans 0/1, cpulimit string, generated keys", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* put(s, "/nodes/pve1/qemu/100/config", { memory: "current=4096" })
      const c = dataObject(yield* request(s, "/nodes/pve1/qemu/100/config"))
      expect([c.memory, c.cores, c.onboot, c.cpulimit]).toEqual(["4096", 2, 1, "1.5"])
      expect(typeof c.vmgenid).toBe("string")
      expect(c.meta).toMatch(/^creation-qemu=/)
      expect(c.smbios1).toMatch(/^uuid=/)
      const l = dataObject(yield* request(s, "/nodes/pve1/lxc/101/config"))
      expect([l.memory, l.swap, l.unprivileged, l.cores]).toEqual([512, 512, 1, 1])
    }))

  it.scoped("list defaults: qemu rows without type and name 'VM 100'; lxc rows type lxc, 'CT101', pressure strings", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const q = dataRows(yield* request(s, "/nodes/pve1/qemu"))
      expect(row(q, 0).name).toBe("VM 100")
      expect(row(q, 0).type).toBeUndefined()
      const l = dataRows(yield* request(s, "/nodes/pve1/lxc"))
      expect([row(l, 0).type, row(l, 0).name, row(l, 0).pressurecpusome]).toEqual(["lxc", "CT101", "0.00"])
      const st = dataObject(yield* request(s, "/nodes/pve1/qemu/100/status/current"))
      expect(st.ha).toEqual({ managed: 0 })
      expect(st.qmpstatus).toBe("stopped")
    }))
  it.scoped("qemu drive size: parse_size then format_size (parse_drive, print_drive): the largest exact unit", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* put(s, "/nodes/pve1/qemu/100/config", {
        scsi1: "local-lvm:vm-100-disk-1,size=1.5G",
        scsi2: "local-lvm:vm-100-disk-2,size=1024M",
        scsi3: "local-lvm:vm-100-disk-3,size=33554432KiB",
        scsi4: "local-lvm:vm-100-disk-4,size=1536",
        efidisk0: "local-lvm:vm-100-disk-5,size=528K,efitype=4m",
        tpmstate0: "local-lvm:vm-100-disk-6,size=4096K,version=v2.0"
      })
      const c = yield* qemuConfig(s)
      expect([c.scsi1, c.scsi2, c.scsi3, c.scsi4, c.efidisk0, c.tpmstate0]).toEqual([
        "local-lvm:vm-100-disk-1,size=1536M",
        "local-lvm:vm-100-disk-2,size=1G",
        "local-lvm:vm-100-disk-3,size=32G",
        "local-lvm:vm-100-disk-4,size=1536",
        "local-lvm:vm-100-disk-5,efitype=4m,size=528K",
        "local-lvm:vm-100-disk-6,size=4M,version=v2.0"
      ])
    }))

  it.scoped("qemu drive: booleans 1/0 (parse_property_string via parse_boolean), volume first then sorted (print_property_string)", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* put(s, "/nodes/pve1/qemu/100/config", {
        scsi1: "ssd=yes,size=8G,iothread=on,local-lvm:vm-100-disk-1,cache=writeback,backup=OFF,discard=on",
        virtio1: "volume=local-lvm:vm-100-disk-2,ro=true,aio=io_uring",
        sata1: "replicate=no,file=local-lvm:vm-100-disk-3"
      })
      const c = yield* qemuConfig(s)
      expect([c.scsi1, c.virtio1, c.sata1]).toEqual([
        "local-lvm:vm-100-disk-1,backup=0,cache=writeback,discard=on,iothread=1,size=8G,ssd=1",
        "local-lvm:vm-100-disk-2,aio=io_uring,ro=1",
        "local-lvm:vm-100-disk-3,replicate=0"
      ])
    }))

  it.scoped("qemu drive legacy keys: *_length aliases resolved (parse_property_string), bps* stored as mbps*=0.000 (parse_drive)", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* put(s, "/nodes/pve1/qemu/100/config", {
        scsi1: "local-lvm:vm-100-disk-1,mbps_rd=10,mbps_rd_max=20,bps_rd_length=5",
        // parse_drive divides `defined(delete $res->{bps})` (1), not the value, by 1024²; and as
        // "0.000" is true to Perl, bps next to bps_wr reads as mbps next to mbps_wr: refused.
        scsi2: "local-lvm:vm-100-disk-2,bps=104857600",
        scsi3: "iops_wr=50,local-lvm:vm-100-disk-3,bps_wr=1048576"
      })
      const c = yield* qemuConfig(s)
      expect([c.scsi1, c.scsi2, c.scsi3]).toEqual([
        "local-lvm:vm-100-disk-1,bps_rd_max_length=5,mbps_rd=10,mbps_rd_max=20",
        "local-lvm:vm-100-disk-2,mbps=0.000",
        "local-lvm:vm-100-disk-3,iops_wr=50,mbps_wr=0.000"
      ])
      const both = yield* put(s, "/nodes/pve1/qemu/100/config", { scsi4: "local-lvm:vm-100-disk-4,bps=1,bps_wr=1" })
      expect(both.status).toBe(400)
    }))

  it.scoped("qemu empty drive: none/cdrom get media=cdrom (cleanup_drive_path) and lose size (create_disks); cdrom is ide2", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* put(s, "/nodes/pve1/qemu/100/config", {
        ide0: "none",
        sata1: "none,size=4G,media=disk",
        cdrom: "cdrom,size=1G"
      })
      const c = yield* qemuConfig(s)
      expect([c.ide0, c.sata1, c.ide2]).toEqual(["none,media=cdrom", "none,media=disk", "cdrom,media=cdrom"])
    }))

  it.scoped("qemu drive on a running VM: the pending value is the printed one too ($check_drive_param prints first)", () =>
    Effect.gen(function*() {
      const s = yield* startRunning()
      // Without disk hotplug a new drive waits for the next start.
      yield* put(s, "/nodes/pve1/qemu/103/config", { hotplug: "0" })
      yield* put(s, "/nodes/pve1/qemu/103/config", { scsi1: "size=2048M,local-lvm:vm-103-disk-1,ssd=on" })
      const pending = dataRows(yield* request(s, "/nodes/pve1/qemu/103/pending"))
      expect(pending.find((r) => r.key === "scsi1")?.pending).toBe("local-lvm:vm-103-disk-1,size=2G,ssd=1")
    }))

  it.scoped("lxc mount point: print_ct_mountpoint when applied (volume, mp, rest sorted; 1/0; format_size); rootfs as written", () =>
    Effect.gen(function*() {
      const s = yield* start()
      expect(
        (yield* put(s, "/nodes/pve1/lxc/101/config", {
          mp0: "mp=/data,size=1024M,backup=yes,local-lvm:vm-101-disk-1,acl=off",
          mp1: "volume=local-lvm:vm-101-disk-2,mp=/share,ro=true,replicate=no",
          rootfs: "size=8192M,local-lvm:vm-101-disk-0,quota=on"
        })).status
      ).toBe(200)
      const c = yield* lxcConfig(s)
      expect([c.mp0, c.mp1, c.rootfs]).toEqual([
        "local-lvm:vm-101-disk-1,mp=/data,acl=0,backup=1,size=1G",
        "local-lvm:vm-101-disk-2,mp=/share,replicate=0,ro=1",
        // update_pct_config and vmconfig_apply_pending copy rootfs unprinted.
        "size=8192M,local-lvm:vm-101-disk-0,quota=on"
      ])
    }))

  it.scoped("lxc mount point on a running CT: a new one is plugged in printed, a changed one waits raw (vmconfig_hotplug_pending)", () =>
    Effect.gen(function*() {
      const s = yield* startRunning()
      yield* put(s, "/nodes/pve1/lxc/102/config", { mp0: "mp=/data,local-lvm:vm-102-disk-1,size=2048M" })
      expect((yield* lxcConfig(s, 102)).mp0).toBe("local-lvm:vm-102-disk-1,mp=/data,size=2G")
      yield* put(s, "/nodes/pve1/lxc/102/config", { mp0: "mp=/data,local-lvm:vm-102-disk-1,size=2048M,backup=0" })
      const current = dataObject(yield* request(s, "/nodes/pve1/lxc/102/config", { query: { current: "1" } }))
      expect(current.mp0).toBe("local-lvm:vm-102-disk-1,mp=/data,size=2G")
      expect((yield* lxcConfig(s, 102)).mp0).toBe("mp=/data,local-lvm:vm-102-disk-1,size=2048M,backup=0")
      yield* put(s, "/nodes/pve1/lxc/102/config", { delete: "mp0" })
      const pending = dataRows(yield* request(s, "/nodes/pve1/lxc/102/pending"))
      expect(pending.find((r) => r.key === "mp0")?.delete).toBe(1)
    }))
})
