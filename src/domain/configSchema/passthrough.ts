/**
 * What a VM may be given of its node — USB and PCI devices, serial ports, shared directories —
 * and which of it an API token may hand out. Formats from qemu-server `PVE::QemuServer::USB`
 * `$usb_fmt`, `PVE::QemuServer::PCI` `$hostpci_fmt`, `PVE::QemuServer::Virtiofs`
 * `$virtiofs_fmt` and PVE::QemuServer's serial port pattern; who may set what from
 * PVE::API2::Qemu `check_usb_perm`, `check_hostpci_perm` and `$update_vm_api`'s serial rules.
 * PVE runs those checks on the old value as well as the new one when it replaces or removes a
 * device, so a device root@pam set up stays root@pam's.
 */
import { checkPropertyString } from "./check.js"
import { FORMATS } from "./formats.js"
import type { KeySpec, PropertyFormat, PropertyMap } from "./spec.js"

const rootOnly = (what: string, check: string, act = "set it"): string =>
  `${what}: only root@pam may ${act} (PVE::API2::Qemu ${check}); the agent's API token never counts as root@pam`

/** Perl truthiness of an optional value. */
const truthy = (v: string | undefined): boolean => v !== undefined && v !== "" && v !== "0"

const neither = (check: string): string =>
  `needs host or mapping: PVE refuses a device with neither to anyone but root@pam (${check})`

const usb: PropertyFormat = {
  keys: {
    host: {
      type: "string",
      defaultKey: true,
      pattern: /^(?:(0x)?[0-9A-Fa-f]{4}:(0x)?[0-9A-Fa-f]{4}|\d+-\d+(\.\d+)*|[Ss][Pp][Ii][Cc][Ee])$/
    },
    mapping: { type: "string", format: FORMATS.configId },
    usb3: { type: "boolean" }
  }
}

/** `check_usb_perm`: SPICE redirection or a mapped device; a host device is root@pam's. */
const usbRootOnly = (_: string, p: PropertyMap | undefined): string | undefined => {
  const host = p?.get("host")
  if (truthy(host)) return /^spice$/i.test(host ?? "") ? undefined : rootOnly("a host USB device", "check_usb_perm")
  return truthy(p?.get("mapping")) ? undefined : neither("check_usb_perm")
}

const PCI_ID = "(?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\\.[a-f0-9])?"
const PCI_HEX_ID = /^0x[0-9a-fA-F]{4}$/
const hostpci: PropertyFormat = {
  keys: {
    host: { type: "string", defaultKey: true, pattern: new RegExp(`^${PCI_ID}(;${PCI_ID})*$`) },
    mapping: { type: "string", format: FORMATS.configId },
    rombar: { type: "boolean" },
    romfile: { type: "string", pattern: /^[^,;]+$/ },
    pcie: { type: "boolean" },
    "x-vga": { type: "boolean" },
    "legacy-igd": { type: "boolean" },
    mdev: { type: "string", pattern: /^[^/.:]+$/ },
    "vendor-id": { type: "string", pattern: PCI_HEX_ID },
    "device-id": { type: "string", pattern: PCI_HEX_ID },
    "sub-vendor-id": { type: "string", pattern: PCI_HEX_ID },
    "sub-device-id": { type: "string", pattern: PCI_HEX_ID },
    driver: { type: "string", enum: ["vfio", "keep"] }
  }
}

/** `check_hostpci_perm`: only a mapped device, and without a romfile (a file on the node). */
const hostpciRootOnly = (_: string, p: PropertyMap | undefined): string | undefined => {
  if (truthy(p?.get("host"))) return rootOnly("a non-mapped PCI device", "check_hostpci_perm")
  if (!truthy(p?.get("mapping"))) return neither("check_hostpci_perm")
  return p?.has("romfile") === true ? rootOnly("romfile", "check_hostpci_perm") : undefined
}

/**
 * The device's rule applied to its current value, which PVE checks before it replaces or
 * removes the device.
 */
const oldValueRule =
  (format: PropertyFormat, rule: (value: string, p: PropertyMap | undefined) => string | undefined) =>
  (_desired: string | undefined, old: string | undefined): string | undefined => {
    if (old === undefined || !truthy(old)) return undefined
    const reason = rule(old, checkPropertyString(format, old).props)
    return reason === undefined
      ? undefined
      : `the current value ${JSON.stringify(old)} is root@pam's to replace or remove: ${reason}`
  }

export const USB: KeySpec = {
  value: { kind: "property-string", properties: usb },
  rootOnly: usbRootOnly,
  change: oldValueRule(usb, usbRootOnly)
}

export const HOSTPCI: KeySpec = {
  value: { kind: "property-string", properties: hostpci },
  rootOnly: hostpciRootOnly,
  change: oldValueRule(hostpci, hostpciRootOnly)
}

/**
 * A socket may replace only a socket or nothing, and a host device may be removed only by
 * root@pam (`$update_vm_api`: "only root can modify/delete '…' config for real devices").
 */
export const SERIAL: KeySpec = {
  value: { kind: "string", pattern: /^(\/dev\/[^,]+|socket)$/ },
  rootOnly: (v) => (v === "socket" ? undefined : rootOnly("a host serial device", "$update_vm_api")),
  change: (desired, old) =>
    old === undefined || old === "socket"
      ? undefined
      : rootOnly(
        `${desired === undefined ? "removing" : "replacing"} the host serial device ${old}`,
        "$update_vm_api",
        "do so"
      )
}

export const VIRTIOFS: KeySpec = {
  value: {
    kind: "property-string",
    properties: {
      keys: {
        dirid: { type: "string", defaultKey: true, required: true, format: FORMATS.configId },
        cache: { type: "string", enum: ["auto", "always", "metadata", "never"] },
        "direct-io": { type: "boolean" },
        "expose-xattr": { type: "boolean" },
        "expose-acl": { type: "boolean" }
      }
    }
  }
}
