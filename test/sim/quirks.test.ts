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
const put = (s: Parameters<typeof request>[0], path: string, form: Record<string, string>) =>
  request(s, path, { method: "PUT", form })

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
})
