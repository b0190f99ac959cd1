/**
 * What a config write answers when PVE refuses a value: the schema texts of pve-common
 * `PVE::JSONSchema` (`check_prop`, `check_format`, `parse_property_string`, `check_object`), the
 * formats of qemu-server, pve-container and pve-storage, and the checks the update code runs
 * after the schema (qemu-server `PVE::API2::Qemu` `$update_vm_api`, pve-container
 * `PVE::LXC::check_ct_modify_config_perm`, `PVE::LXC::Config::update_pct_config`).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { startSimulator } from "../../src/sim/Simulator.js"
import { asObject, dataObject, request, type SimResponse } from "./client.js"

const start = () =>
  startSimulator({
    https: false,
    authFailureDelay: 0,
    taskDuration: 5,
    tokens: [
      { tokenid: "felhom@pve!agent", secret: "s", privileges: [{ path: "/", privs: ["*"], propagate: true }] },
      { tokenid: "ops@pve!vm", secret: "o", privileges: [{ path: "/vms", privs: ["*"], propagate: true }] }
    ],
    guests: [
      {
        vmid: 100,
        type: "qemu",
        status: "stopped",
        config: { memory: 2048, scsi0: "local-lvm:vm-100-disk-0,size=32G", net0: "virtio,bridge=vmbr0" }
      },
      {
        vmid: 101,
        type: "lxc",
        status: "stopped",
        config: { memory: 512, ostype: "debian", rootfs: "local-lvm:vm-101-disk-0,size=8G", unprivileged: 1 }
      },
      {
        vmid: 102,
        type: "lxc",
        status: "stopped",
        config: { memory: 512, ostype: "debian", rootfs: "local-lvm:vm-102-disk-0,size=8G" }
      }
    ]
  })

/** Status, message and per-parameter errors of an answer. */
const answer = (r: SimResponse) => {
  const body = r.status === 200 ? {} : asObject(r.body)
  return { status: r.status, message: body["message"], errors: body["errors"] }
}
const paramError = (key: string, text: string) => ({
  status: 400,
  message: "Parameter verification failed.\n",
  errors: { [key]: text }
})
const died = (status: number, text: string) => ({ status, message: `${text}\n`, errors: undefined })

describe("config writes PVE refuses", () => {
  it.scoped("qemu scalars and formats: ranges, patterns, enums, named formats, unknown keys", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const put = (json: Record<string, unknown>) =>
        request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", json }).pipe(Effect.map(answer))
      expect(yield* put({ cpulimit: 129 })).toEqual(paramError("cpulimit", "value must have a maximum value of 128"))
      expect(yield* put({ sockets: 0 })).toEqual(paramError("sockets", "value must have a minimum value of 1"))
      expect((yield* put({ sockets: 64, cores: 2048 })).status).toBe(200)
      expect(yield* put({ startdate: "yesterday" })).toEqual(
        paramError("startdate", "value does not match the regex pattern")
      )
      expect(yield* put({ serial0: "/tmp/x" })).toEqual(paramError("serial0", "value does not match the regex pattern"))
      expect(yield* put({ startup: "bogus" })).toEqual(
        paramError("startup", "invalid format - unable to parse startup options\n")
      )
      expect(yield* put({ hotplug: "disk,netwrk" })).toEqual(
        paramError("hotplug", "invalid format - invalid hotplug feature 'netwrk'\n")
      )
      expect(yield* put({ vmstatestorage: "x" })).toEqual(
        paramError("vmstatestorage", "invalid format - storage ID 'x' cannot be shorter than 2 characters\n")
      )
      expect(yield* put({ keyboard: "us" })).toEqual(
        paramError(
          "keyboard",
          "value 'us' does not have a value in the enumeration 'de, de-ch, da, en-gb, en-us, es, fi, fr, fr-be, fr-ca, fr-ch, hu, is, it, ja, lt, mk, nl, no, pl, pt, pt-br, sv, sl, tr'"
        )
      )
      const notInSchema = "property is not defined in schema and the schema does not allow additional properties"
      expect(yield* put({ vmstate: "local:x" })).toEqual(paramError("vmstate", notInSchema))
      expect(yield* put({ usb14: "spice" })).toEqual(paramError("usb14", notInSchema))
      expect(yield* put({ constructor: "x" })).toEqual(paramError("constructor", notInSchema))
      expect(yield* put({ net1: "virtio,constructor=1" })).toEqual(
        paramError("net1", "invalid format - invalid key in comma-separated list property: constructor\n")
      )
      for (const key of ["autostart", "reboot", "localtime", "tdf", "freeze", "allow-ksm", "ciupgrade"]) {
        expect((yield* put({ [key]: 1 })).status).toBe(200)
      }
      expect(yield* put({ sshkeys: "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIAbc" })).toEqual(
        died(500, "SSH public key validation error")
      )
    }))

  it.scoped("qemu property strings: PATH.KEY lines under 'format error', die texts as they are", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const put = (json: Record<string, unknown>) =>
        request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", json }).pipe(Effect.map(answer))
      expect(yield* put({ net1: "virtio,tag=4095" })).toEqual(
        paramError("net1", "invalid format - format error\nnet1.tag: value must have a maximum value of 4094\n")
      )
      expect(yield* put({ net1: "bridge=vmbr0" })).toEqual(
        paramError("net1", "invalid format - format error\nnet1.model: property is missing and it is not optional\n")
      )
      expect(yield* put({ net1: "virtio=01:00:00:00:00:01" })).toEqual(
        paramError(
          "net1",
          "invalid format - format error\nnet1.macaddr: invalid format - value does not look like a valid unicast MAC address\n\n"
        )
      )
      expect(yield* put({ net1: "virtio,bogus=1" })).toEqual(
        paramError("net1", "invalid format - invalid key in comma-separated list property: bogus\n")
      )
      expect(yield* put({ agent: "fstrim_cloned_disks=1" })).toEqual(
        paramError(
          "agent",
          "invalid format - format error\nagent.enabled: property is missing and it is not optional\n"
        )
      )
      expect(yield* put({ boot: "order=efidisk0" })).toEqual(
        paramError(
          "boot",
          "invalid format - format error\nboot.order: invalid format - invalid boot device 'efidisk0'\n\n"
        )
      )
      expect(yield* put({ memory: "current=8" })).toEqual(
        paramError("memory", "invalid format - format error\nmemory.current: value must have a minimum value of 16\n")
      )
      expect(yield* put({ scsi1: "" })).toEqual(
        paramError("scsi1", "invalid format - format error\nscsi1.file: property is missing and it is not optional\n")
      )
      expect(yield* put({ ipconfig0: "gw=192.0.2.1" })).toEqual(
        paramError(
          "ipconfig0",
          "invalid format - format error\nipconfig0.ip: missing property required by 'ipconfig0.gw'\n"
        )
      )
      expect(yield* put({ cpu: "custom-fast" })).toEqual(
        paramError("cpu", "invalid format - Custom cputype 'fast' not found\n")
      )
      expect(yield* put({ cpu: "host,flags=+sse4" })).toEqual(
        paramError(
          "cpu",
          "invalid format - VM-specific CPU flags must be a subset of: aes, amd-no-ssb, amd-ssbd, hv-evmcs, hv-tlbflush, ibpb, md-clear, nested-virt, pcid, pdpe1gb, spec-ctrl, ssbd, virt-ssbd\n"
        )
      )
      expect(
        (yield* put({
          cpu: "host,flags=+aes;-pcid",
          net1: "e1000,link_down=on",
          rng0: "/dev/urandom",
          watchdog: "ib700"
        })).status
      ).toBe(200)
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/100/config")).net1).toMatch(
        /^e1000=BC:24:11(:[0-9A-F]{2}){3},link_down=1$/
      )
    }))

  it.scoped("qemu checks after the schema: drives, boot order, machine, VNC clipboard", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const put = (json: Record<string, unknown>) =>
        request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", json }).pipe(Effect.map(answer))
      expect(yield* put({ virtio1: "none,media=cdrom" })).toEqual(
        paramError("virtio1", "unable to parse drive options")
      )
      expect(yield* put({ scsi1: "local-lvm:4,import-from=local:iso/x.img" })).toEqual(
        paramError("scsi1", "'import-from' requires special syntax - use <storage ID>:0,import-from=<source>")
      )
      expect(yield* put({ boot: "order=scsi0;scsi5" })).toEqual(
        died(500, "invalid bootorder: device 'scsi5' does not exist'")
      )
      expect(yield* put({ boot: "order=scsi0;net0", delete: "net0" })).toEqual(
        died(500, "invalid bootorder: device 'net0' does not exist'")
      )
      expect((yield* put({ boot: "order=scsi0;net0" })).status).toBe(200)
      expect(yield* put({ machine: "pc,viommu=intel" })).toEqual(
        died(500, "to use Intel vIOMMU please set the machine type to q35")
      )
      expect(yield* put({ vga: "none,clipboard=vnc" })).toEqual(
        died(500, "vga type none is not compatible with VNC clipboard")
      )
      expect((yield* put({ tpmstate0: "local-lvm:vm-100-disk-1,version=v2.0" })).status).toBe(200)
      expect(yield* put({ tpmstate0: "local-lvm:vm-100-disk-1" })).toEqual(
        died(500, "cannot change TPM state version after creation")
      )
      expect((yield* put({ cdrom: "none" })).status).toBe(200)
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/100/config")).ide2).toBe("none,media=cdrom")
    }))

  it.scoped("qemu keys only root@pam may set, and the privileges some values need", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const put = (json: Record<string, unknown>, auth?: string) =>
        request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", json, ...(auth === undefined ? {} : { auth }) })
          .pipe(Effect.map(answer))
      expect(yield* put({ parallel0: "/dev/parport0" })).toEqual(died(500, "only root can set 'parallel0' config"))
      expect(yield* put({ lock: "backup" })).toEqual(died(500, "only root can set 'lock' config"))
      expect(yield* put({ vmgenid: "1" })).toEqual(died(500, "only root can set 'vmgenid' config"))
      expect(yield* put({ serial0: "/dev/ttyS0" })).toEqual(
        died(500, "only root can modify 'serial0' config for real devices")
      )
      expect(yield* put({ usb0: "1-2" })).toEqual(died(500, "only root can set 'usb0' config for real devices"))
      expect(yield* put({ usb0: "usb3=1" })).toEqual(died(500, "either 'host' or 'mapping' must be set."))
      expect(yield* put({ hostpci0: "0000:01:00.0" })).toEqual(
        died(500, "only root can set 'hostpci0' config for non-mapped devices")
      )
      expect(yield* put({ hostpci0: "mapping=gpu,romfile=x.rom" })).toEqual(
        paramError("hostpci0", "only root@pam can set 'romfile' option")
      )
      expect((yield* put({ serial0: "socket", usb0: "spice", hostpci0: "mapping=gpu", virtiofs0: "share" })).status)
        .toBe(200)
      // A token with every privilege on /vms but none on / or /mapping.
      const ops = "PVEAPIToken=ops@pve!vm=o"
      expect(yield* put({ startup: "order=1" }, ops)).toEqual(died(403, "Permission check failed (/, Sys.Modify)"))
      expect(yield* put({ usb1: "mapping=key" }, ops)).toEqual(
        died(403, "Permission check failed (/mapping/usb/key, Mapping.Use)")
      )
      expect(yield* put({ vmstatestorage: "local-lvm" }, ops)).toEqual(
        died(403, "Permission check failed (/storage/local-lvm, Datastore.AllocateSpace)")
      )
      expect(yield* put({ scsi2: "local-lvm:4" }, ops)).toEqual(
        died(403, "Permission check failed (/storage/local-lvm, Datastore.AllocateSpace)")
      )
    }))

  it.scoped("lxc: $netconf_desc, $features_desc, $rootfs_desc, $mp_desc, formats, root-only mounts and flags", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const put = (vmid: number, json: Record<string, unknown>) =>
        request(s, `/nodes/pve1/lxc/${vmid}/config`, { method: "PUT", json }).pipe(Effect.map(answer))
      expect(yield* put(101, { net0: "name=eth0,mtu=63" })).toEqual(
        paramError("net0", "invalid format - format error\nnet0.mtu: value must have a minimum value of 64\n")
      )
      expect(yield* put(101, { features: "nesting=2" })).toEqual(
        paramError(
          "features",
          "invalid format - format error\nfeatures.nesting: type check ('boolean') failed - got '2'\n"
        )
      )
      expect(yield* put(101, { rootfs: "local-lvm:vm-101-disk-0,bogus=1" })).toEqual(
        paramError("rootfs", "invalid format - invalid key in comma-separated list property: bogus\n")
      )
      expect(yield* put(101, { mp0: "local-lvm:8" })).toEqual(
        paramError("mp0", "invalid format - format error\nmp0.mp: property is missing and it is not optional\n")
      )
      expect(yield* put(101, { timezone: "not a zone" })).toEqual(
        paramError("timezone", "invalid format - invalid time zone 'not a zone'\n")
      )
      expect(yield* put(101, { nameserver: "192.0.2.53 not-an-ip" })).toEqual(
        paramError("nameserver", "invalid format - value does not look like a valid IP address\n")
      )
      expect(yield* put(101, { entrypoint: "/sbin/init\u0001" })).toEqual(
        paramError("entrypoint", "value does not match the regex pattern")
      )
      expect(
        (yield* put(101, { debug: 1, entrypoint: "/sbin/init --log", env: "A=1\u0000B=2", timezone: "Europe/Vienna" }))
          .status
      ).toBe(200)
      expect(yield* put(101, { mp0: "/srv,mp=/data" })).toEqual(
        died(403, "Permission check failed (mount point type bind is only allowed for root@pam)")
      )
      expect(yield* put(101, { dev0: "/dev/ttyUSB0" })).toEqual(
        died(403, "Permission check failed (configuring device passthrough is only allowed for root@pam)")
      )
      expect(yield* put(101, { net1: "name=eth1,host-managed=1,ip6=auto" })).toEqual(
        died(500, "net1: SLAAC is not supported for host-managed network configuration.")
      )
      expect((yield* put(101, { features: "nesting=1" })).status).toBe(200)
      expect(yield* put(101, { features: "nesting=1,keyctl=1" })).toEqual(
        died(403, "Permission check failed (changing feature flags (except nesting) is only allowed for root@pam)")
      )
      expect(yield* put(102, { features: "nesting=1" })).toEqual(
        died(
          403,
          "Permission check failed (changing feature flags for privileged container is only allowed for root@pam)"
        )
      )
    }))
})
