/**
 * The config-key table's rules beyond each sub-key's own range: what PVE checks across the
 * sub-keys of a value (drives, cpu, vga, machine, lxc NICs), what only root@pam may set
 * (paths, host devices, feature flags) and the rules that compare a new value with the guest's
 * current one. Each refusal names the key and what is wrong; next to each, values that must
 * still pass.
 */
import { describe, expect, it } from "@effect/vitest"
import { generateKeyPairSync } from "node:crypto"
import { type CurrentConfig, type DesiredScalar, validateConfig } from "../../src/domain/configSchema.js"
import type { GuestType } from "../../src/domain/Guest.js"

type Config = Record<string, DesiredScalar | null>

const messages = (type: GuestType, config: Config, current?: CurrentConfig) =>
  validateConfig(type, config, current).map((i) => `${i.path}: ${i.message}`)
const ok = (type: GuestType, config: Config, current?: CurrentConfig) =>
  expect(messages(type, config, current)).toEqual([])
const one = (type: GuestType, key: string, value: DesiredScalar | null, current?: CurrentConfig): string => {
  const issues = messages(type, { [key]: value }, current)
  expect(issues).toHaveLength(1)
  return issues[0] ?? ""
}

describe("qemu drives", () => {
  it("takes what PVE's drive formats take, per bus", () => {
    ok("qemu", {
      scsi0: "local-lvm:vm-100-disk-0,size=32G,discard=on,ssd=1,iothread=1,cache=writeback,aio=io_uring",
      scsi1:
        "volume=local-lvm:vm-100-disk-1,wwn=0x5000c500a1b2c3d4,product=QEMU HARDDISK,vendor=ACME,queues=4,scsiblock=0",
      ide0: "local-lvm:vm-100-disk-2,model=Fast%20Disk,serial=QM00001",
      ide2: "none,media=cdrom",
      sata0: "local:iso/debian.iso,media=cdrom",
      virtio0: "local-lvm:32,iothread=1,ro=1",
      efidisk0: "local-lvm:vm-100-disk-3,efitype=4m,pre-enrolled-keys=1,ms-cert=2023k,size=4M",
      tpmstate0: "local-lvm:vm-100-disk-4,version=v2.0,size=4M"
    })
  })

  it("refuses sub-keys the bus does not have, and PVE's dropped geometry keys", () => {
    expect(one("qemu", "scsi0", "local-lvm:vm-100-disk-0,bogus=1")).toBe("scsi0: unknown key bogus")
    expect(one("qemu", "virtio0", "local-lvm:vm-100-disk-0,ssd=1")).toBe("virtio0: unknown key ssd")
    expect(one("qemu", "ide0", "local-lvm:vm-100-disk-0,cyls=16")).toBe("ide0: unknown key cyls")
    expect(one("qemu", "efidisk0", "local-lvm:1,media=cdrom")).toBe("efidisk0: unknown key media")
    expect(one("qemu", "tpmstate0", "local-lvm:1,format=qcow")).toContain(
      "tpmstate0: format: must be one of raw, qcow2, vmdk"
    )
  })

  it("holds a drive's file to a volume, a path, none or cdrom", () => {
    expect(one("qemu", "efidisk0", "x")).toBe(
      `efidisk0: "x" is not a volume ID (STORAGE:VOLUME, or STORAGE:SIZE for a new disk), an absolute path, none or cdrom`
    )
    expect(one("qemu", "scsi0", "size=32G")).toBe("scsi0: missing file")
  })

  it("refuses a CD-ROM on virtio, and a CD-ROM with snapshot or format", () => {
    expect(one("qemu", "virtio3", "none,media=cdrom")).toBe(
      "virtio3: a virtio drive cannot be a CD-ROM (use ide, sata or scsi)"
    )
    expect(one("qemu", "ide2", "local:iso/x.iso,media=cdrom,snapshot=1")).toBe("ide2: a CD-ROM takes no snapshot")
    expect(one("qemu", "sata1", "local:iso/x.iso,media=cdrom,format=raw,snapshot=on")).toBe(
      "sata1: a CD-ROM takes no snapshot or format"
    )
    // Perl truthiness: a false snapshot is no snapshot.
    ok("qemu", { ide2: "local:iso/x.iso,media=cdrom,snapshot=0" })
  })

  it("applies parse_drive's throttle rules", () => {
    expect(one("qemu", "scsi0", "local-lvm:vm-100-disk-0,mbps_max=20")).toBe("scsi0: mbps_max requires mbps")
    expect(one("qemu", "scsi0", "local-lvm:vm-100-disk-0,iops_max=20,iops_rd_max_length=5")).toBe(
      "scsi0: iops_rd_max_length requires iops_rd_max"
    )
    expect(one("qemu", "scsi0", "local-lvm:vm-100-disk-0,mbps=1,mbps_max=2,bps_max_length=0")).toContain(
      "bps_max_length: must be an integer ≥ 1"
    )
    expect(one("qemu", "scsi0", "local-lvm:vm-100-disk-0,bps=1000,mbps=1")).toBe(
      "scsi0: bps and mbps set the same limit: give one of them"
    )
    expect(one("qemu", "scsi0", "local-lvm:vm-100-disk-0,mbps=10,mbps_rd=5")).toBe(
      "scsi0: mbps and mbps_rd exclude each other: limit the total or reads and writes apart"
    )
    expect(one("qemu", "virtio0", "local-lvm:vm-100-disk-0,iops=100,iops_wr=50")).toContain(
      "iops and iops_wr exclude each other"
    )
    // PVE accepts a bps limit but stores it as mbps=0.000 (parse_drive): it could never converge.
    expect(one("qemu", "scsi1", "local-lvm:vm-100-disk-1,bps_rd=1048576")).toBe(
      "scsi1: bps_rd is stored by PVE as mbps_rd=0.000 whatever its value (qemu-server parse_drive), so it " +
        "would never converge: give mbps_rd in MB/s instead"
    )
    ok("qemu", {
      scsi0: "local-lvm:vm-100-disk-0,mbps=10,mbps_max=20,bps_max_length=5",
      scsi2: "local-lvm:vm-100-disk-2,mbps_rd=1,mbps_wr=2,mbps_rd_max=2,bps_rd_length=3,iops_rd=10,iops_wr=10"
    })
  })

  it("holds an import to PVE's syntax: a new disk STORAGE:0, and the EFI and TPM type spelled out", () => {
    ok("qemu", {
      scsi0: "local-lvm:0,import-from=local:import/disk.qcow2",
      efidisk0: "local-lvm:0,efitype=4m,pre-enrolled-keys=1,import-from=local:import/vars.raw",
      tpmstate0: "local-lvm:0,version=v2.0,import-from=local:import/tpm.raw"
    })
    expect(one("qemu", "scsi0", "local-lvm:8,import-from=local:import/disk.qcow2")).toBe(
      `scsi0: import-from needs the new disk written as STORAGE:0, got file "local-lvm:8"`
    )
    expect(one("qemu", "scsi0", "local-lvm:vm-100-disk-0,import-from=local:import/disk.qcow2")).toContain(
      "import-from needs the new disk written as STORAGE:0"
    )
    expect(one("qemu", "efidisk0", "local-lvm:0,efitype=4m,import-from=local:import/vars.raw")).toBe(
      "efidisk0: import-from needs pre-enrolled-keys too"
    )
    expect(one("qemu", "efidisk0", "local-lvm:0,import-from=local:import/vars.raw")).toBe(
      "efidisk0: import-from needs efitype and pre-enrolled-keys too"
    )
    expect(one("qemu", "tpmstate0", "local-lvm:0,import-from=local:import/tpm.raw")).toBe(
      "tpmstate0: import-from needs version too"
    )
    expect(one("qemu", "scsi0", "local-lvm:0,import-from=disk.qcow2")).toContain("import-from:")
  })

  it("leaves paths on the node to root@pam: a path as file or import source, the host CD-ROM as a disk", () => {
    expect(one("qemu", "scsi1", "/dev/disk/by-id/ata-X")).toBe(
      "scsi1: file /dev/disk/by-id/ata-X: only root@pam may pass a path on the node (pve-storage PVE::Storage::check_volume_access); the agent's API token never counts as root@pam"
    )
    expect(one("qemu", "ide2", "/var/lib/vz/template/iso/x.iso,media=cdrom")).toContain("only root@pam may pass a path")
    expect(one("qemu", "ide0", "cdrom,media=disk")).toContain("file cdrom: only root@pam")
    expect(one("qemu", "scsi0", "local-lvm:0,import-from=/var/tmp/disk.qcow2")).toContain(
      "import-from /var/tmp/disk.qcow2: only root@pam"
    )
    // Without a media, qemu-server cleanup_drive_path makes `cdrom` the CD-ROM drive (media=cdrom)
    // before the storage check, which then asks Sys.Console on / only.
    ok("qemu", { ide2: "cdrom,media=cdrom", ide3: "none,media=cdrom", ide0: "cdrom" })
  })
})

describe("qemu cpu", () => {
  it("takes PVE's CPU types, QEMU's versioned names, custom models and the VM-specific flags", () => {
    for (
      const cpu of [
        "host",
        "x86-64-v2-AES",
        "kvm64",
        "cortex-a72",
        "EPYC-Rome-v1",
        "Denverton",
        "custom-mine",
        "cputype=Skylake-Client-v4,flags=+md-clear;-pcid;+spec-ctrl",
        "custom-mine,flags=+aes",
        "kvm64,hidden=1,hv-vendor-id=proxmox,phys-bits=host,guest-phys-bits=40,level=30"
      ]
    ) ok("qemu", { cpu })
  })

  it("refuses an unknown type with a suggestion, a missing type, other flags and reported-model", () => {
    expect(one("qemu", "cpu", "kvm65")).toBe(
      `cpu: unknown CPU type "kvm65" (did you mean kvm64?); a custom model is written custom-NAME`
    )
    expect(one("qemu", "cpu", "Host")).toContain("(did you mean host?)")
    expect(one("qemu", "cpu", "flags=+aes")).toBe("cpu: missing cputype (the CPU type, e.g. host or x86-64-v2-AES)")
    expect(one("qemu", "cpu", "custom-")).toBe("cpu: custom- must be followed by the custom model's name")
    expect(one("qemu", "cpu", "host,flags=+aes;+sse4.2")).toBe(
      "cpu: flags: +sse4.2 cannot be set per VM (only aes, amd-no-ssb, amd-ssbd, hv-evmcs, hv-tlbflush, ibpb, md-clear, nested-virt, pcid, pdpe1gb, spec-ctrl, ssbd, virt-ssbd); other flags need a custom CPU model"
    )
    expect(one("qemu", "cpu", "host,reported-model=kvm64")).toBe(
      "cpu: reported-model belongs to custom CPU model definitions, not to a VM's cpu"
    )
    expect(one("qemu", "cpu", "host,phys-bits=7")).toContain("phys-bits:")
    expect(one("qemu", "cpu", "host,flags=aes")).toContain("flags: must match")
    expect(one("qemu", "cpu", "host,bogus=1")).toBe("cpu: unknown key bogus")
  })
})

describe("qemu devices: virtiofs, USB, PCI", () => {
  it("needs a virtiofs directory mapping, and knows its sub-keys", () => {
    ok("qemu", { virtiofs0: "share1", virtiofs9: "dirid=share1,cache=never,expose-acl=1,direct-io=0" })
    expect(one("qemu", "virtiofs0", "cache=always")).toBe("virtiofs0: missing dirid")
    expect(one("qemu", "virtiofs0", "share1,bogus=1")).toBe("virtiofs0: unknown key bogus")
    expect(one("qemu", "virtiofs0", "dirid=9share")).toContain("is not a configuration ID")
  })

  it("refuses a USB or PCI device with neither host nor mapping, and a PCI romfile", () => {
    expect(one("qemu", "usb0", "usb3=1")).toBe(
      "usb0: needs host or mapping: PVE refuses a device with neither to anyone but root@pam (check_usb_perm)"
    )
    expect(one("qemu", "hostpci0", "pcie=1")).toBe(
      "hostpci0: needs host or mapping: PVE refuses a device with neither to anyone but root@pam (check_hostpci_perm)"
    )
    expect(one("qemu", "hostpci0", "mapping=gpu,romfile=vbios.rom")).toBe(
      "hostpci0: romfile: only root@pam may set it (PVE::API2::Qemu check_hostpci_perm); the agent's API token never counts as root@pam"
    )
    expect(one("qemu", "hostpci0", "mapping=gpu,bogus=1")).toBe("hostpci0: unknown key bogus")
    ok("qemu", {
      usb0: "host=spice,usb3=1",
      usb1: "mapping=yubikey",
      hostpci0: "mapping=gpu,pcie=1,rombar=0,x-vga=1,driver=keep"
    })
  })
})

/** SSH wire format: a big-endian length, then the bytes. */
const wire = (...parts: ReadonlyArray<Buffer>): Buffer =>
  Buffer.concat(parts.flatMap((p) => {
    const length = Buffer.alloc(4)
    length.writeUInt32BE(p.length)
    return [length, p]
  }))
/** An SSH mpint: a positive number gets a leading zero byte when its top bit is set. */
const mpint = (b: Buffer): Buffer => ((b[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b)
const fromJwk = (v: unknown): Buffer => Buffer.from(typeof v === "string" ? v : "", "base64url")
const line = (type: string, blob: Buffer, comment = "me@host"): string =>
  `${type} ${blob.toString("base64")} ${comment}`

const ed25519 = fromJwk(generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x)
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "jwk" })
const rsa = (bits: number) => {
  const jwk = generateKeyPairSync("rsa", { modulusLength: bits }).publicKey.export({ format: "jwk" })
  return wire(Buffer.from("ssh-rsa"), mpint(fromJwk(jwk.e)), mpint(fromJwk(jwk.n)))
}
const KEYS = {
  ed25519: line("ssh-ed25519", wire(Buffer.from("ssh-ed25519"), ed25519)),
  ecdsa: line(
    "ecdsa-sha2-nistp256",
    wire(
      Buffer.from("ecdsa-sha2-nistp256"),
      Buffer.from("nistp256"),
      Buffer.concat([Buffer.from([4]), fromJwk(ec.x), fromJwk(ec.y)])
    )
  ),
  rsa: line("ssh-rsa", rsa(2048))
}

describe("qemu sshkeys", () => {
  it("takes URL-encoded public keys, one a line, with authorized_keys options and blank lines", () => {
    ok("qemu", {
      sshkeys: encodeURIComponent(
        [KEYS.ed25519, KEYS.ecdsa, "", KEYS.rsa, `from="10.0.0.0/8",no-pty ${KEYS.ed25519}`].join("\n")
      )
    })
  })

  it("refuses a line ssh-keygen cannot read as a key", () => {
    expect(one("qemu", "sshkeys", "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIAbc")).toBe(
      "sshkeys: line 1 is not an SSH public key (PVE checks every line with ssh-keygen -l)"
    )
    expect(one("qemu", "sshkeys", encodeURIComponent(`${KEYS.ed25519}\n# my laptop`))).toContain(
      "line 2 is not an SSH public key"
    )
    // The blob must name the type the line gives.
    expect(one("qemu", "sshkeys", encodeURIComponent(KEYS.ed25519.replace(/^ssh-ed25519/, "ssh-rsa")))).toContain(
      "line 1"
    )
    // ssh-keygen refuses RSA moduli under 1024 bits; OpenSSH 10 no longer reads DSA keys.
    expect(one("qemu", "sshkeys", encodeURIComponent(line("ssh-rsa", rsa(512))))).toContain("line 1")
    const dss = line("ssh-dss", wire(Buffer.from("ssh-dss"), ...[1, 2, 3, 4].map(() => Buffer.alloc(20, 7))))
    expect(one("qemu", "sshkeys", encodeURIComponent(dss))).toContain("line 1")
    expect(one("qemu", "sshkeys", KEYS.ed25519)).toBe("sshkeys: must be URL-encoded (PVE stores it percent-encoded)")
  })
})

describe("qemu vga and machine: PVE's checks across sub-keys", () => {
  it("refuses the VNC clipboard on a display that cannot carry it", () => {
    expect(one("qemu", "vga", "type=serial0,clipboard=vnc")).toBe(
      "vga: clipboard=vnc needs a display of type std, cirrus, vmware, virtio or qxl, not serial0"
    )
    expect(one("qemu", "vga", "none,clipboard=vnc")).toContain("not none")
    for (const vga of ["clipboard=vnc", "qxl2,clipboard=vnc", "virtio-gl,clipboard=vnc", "std"]) ok("qemu", { vga })
  })

  it("refuses an Intel vIOMMU off q35, other address widths, and aw-bits without a vIOMMU", () => {
    expect(one("qemu", "machine", "type=pc,viommu=intel")).toBe("machine: viommu=intel needs a q35 machine type")
    expect(one("qemu", "machine", "viommu=intel")).toBe("machine: viommu=intel needs a q35 machine type")
    expect(one("qemu", "machine", "q35,viommu=intel,aw-bits=40")).toBe(
      "machine: aw-bits: the Intel vIOMMU takes 39 or 48, got 40"
    )
    expect(one("qemu", "machine", "q35,aw-bits=39")).toBe(
      "machine: aw-bits needs a vIOMMU (viommu=intel or viommu=virtio)"
    )
    for (
      const machine of ["q35,viommu=intel,aw-bits=39", "pc-q35-9.2+pve1,viommu=intel", "pc,viommu=virtio,aw-bits=40"]
    ) ok("qemu", { machine })
  })
})

describe("lxc NICs", () => {
  it("refuses SLAAC on a host-managed NIC that is up", () => {
    expect(one("lxc", "net0", "name=eth0,host-managed=1,ip6=auto")).toBe(
      "net0: ip6=auto (SLAAC) does not go with host-managed=1: give an address, dhcp or manual"
    )
    ok("lxc", {
      net0: "name=eth0,host-managed=1,ip6=auto,link_down=1",
      net1: "name=eth1,host-managed=1,ip6=dhcp",
      net2: "name=eth2,ip6=auto"
    })
  })
})

describe("rules that compare the new value with the guest's current one", () => {
  const unprivileged: CurrentConfig = { unprivileged: 1, memory: 512 }

  it("lxc features: a token may change nesting only, and nothing on a privileged container", () => {
    // Without the current config the change cannot be judged.
    ok("lxc", { features: "nesting=1,keyctl=1" })
    ok("lxc", { features: "nesting=1" }, unprivileged)
    expect(one("lxc", "features", "nesting=1,keyctl=1", unprivileged)).toBe(
      "features: changing keyctl (any flag but nesting): only root@pam may do so (PVE::LXC check_ct_modify_config_perm); the agent's API token never counts as root@pam"
    )
    // A first value counts every flag it names, even a false one.
    expect(one("lxc", "features", "keyctl=0", unprivileged)).toContain("changing keyctl")
    const docker = { ...unprivileged, features: "keyctl=1,nesting=1" }
    ok("lxc", { features: "nesting=1,keyctl=1" }, docker)
    ok("lxc", { features: "keyctl=yes,nesting=0" }, docker)
    expect(one("lxc", "features", "nesting=1", docker)).toContain("changing keyctl")
    expect(one("lxc", "features", "nesting=1,keyctl=1,fuse=1", docker)).toContain("changing fuse")
    expect(one("lxc", "features", null, docker)).toContain("changing keyctl (any flag but nesting)")
    ok("lxc", { features: null }, { ...unprivileged, features: "nesting=1" })
    ok("lxc", { features: null }, unprivileged)
    expect(one("lxc", "features", "nesting=0", { features: "nesting=1" })).toBe(
      "features: changing the feature flags of a privileged container: only root@pam may do so (PVE::LXC check_ct_modify_config_perm); the agent's API token never counts as root@pam"
    )
    expect(one("lxc", "features", "nesting=1", { unprivileged: 0 })).toContain("privileged container")
    ok("lxc", { features: "nesting=1" }, { features: "nesting=1" })
  })

  it("qemu serial ports: a socket replaces only a socket or nothing; a host device stays root@pam's", () => {
    ok("qemu", { serial0: "socket" }, {})
    ok("qemu", { serial0: "socket" }, { serial0: "socket" })
    ok("qemu", { serial0: null }, { serial0: "socket" })
    expect(one("qemu", "serial0", "socket", { serial0: "/dev/ttyS0" })).toBe(
      "serial0: replacing the host serial device /dev/ttyS0: only root@pam may do so (PVE::API2::Qemu $update_vm_api); the agent's API token never counts as root@pam"
    )
    expect(one("qemu", "serial0", null, { serial0: "/dev/ttyS0" })).toContain(
      "removing the host serial device /dev/ttyS0: only root@pam"
    )
  })

  it("qemu USB and PCI devices: PVE checks the device being replaced or removed too", () => {
    const hostUsb = { usb0: "host=1234:5678" }
    expect(one("qemu", "usb0", "spice", hostUsb)).toBe(
      `usb0: the current value "host=1234:5678" is root@pam's to replace or remove: a host USB device: only root@pam may set it (PVE::API2::Qemu check_usb_perm); the agent's API token never counts as root@pam`
    )
    expect(one("qemu", "usb0", null, hostUsb)).toContain("is root@pam's to replace or remove")
    ok("qemu", { usb0: "spice" }, { usb0: "mapping=yubikey" })
    ok("qemu", { usb0: null }, { usb0: "spice" })
    expect(one("qemu", "hostpci0", "mapping=gpu", { hostpci0: "0000:01:00.0,pcie=1" })).toContain(
      "a non-mapped PCI device: only root@pam"
    )
    expect(one("qemu", "hostpci0", null, { hostpci0: "mapping=gpu,romfile=vbios.rom" })).toContain(
      "romfile: only root@pam"
    )
  })

  it("qemu tpmstate0: the TPM version of an existing state volume stays", () => {
    const current = { tpmstate0: "local-lvm:vm-100-disk-2,size=4M" }
    expect(one("qemu", "tpmstate0", "local-lvm:vm-100-disk-2,size=4M,version=v2.0", current)).toBe(
      "tpmstate0: cannot change the TPM version of local-lvm:vm-100-disk-2 from v1.2 to v2.0: PVE fixes it when the state is created (PVE::API2::Qemu prohibit_tpm_version_change)"
    )
    ok("qemu", { tpmstate0: "local-lvm:vm-100-disk-2,size=4M,version=v1.2" }, current)
    ok("qemu", { tpmstate0: "local-lvm:vm-100-disk-3,version=v2.0" }, current)
  })

  it("a value the guest already holds is never written, so it passes even where only root@pam could set it", () => {
    const current = {
      serial0: "/dev/ttyS0",
      usb0: "host=1234:5678",
      hostpci0: "0000:01:00.0,pcie=1",
      scsi1: "/dev/disk/by-id/ata-X"
    }
    ok("qemu", current, current)
    expect(messages("qemu", current)).toHaveLength(4)
    ok("lxc", { mp0: "/srv/data,mp=/data" }, { mp0: "/srv/data,mp=/data" })
    expect(one("lxc", "mp0", "/srv/data,mp=/data")).toContain("a bind or device mount: only root@pam")
    // Format errors are the document's, whatever the guest holds.
    expect(one("qemu", "cores", 0, { cores: 0 })).toContain("must be an integer ≥ 1")
  })
})
