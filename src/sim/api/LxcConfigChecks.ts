/**
 * lxc's checks of a config write that depend on the old or the new value, against the loaded
 * guest: pve-container `PVE::LXC::check_ct_modify_config_perm` for feature flags and mount
 * points, and `update_pct_config`'s network check.
 */
import type { GuestState } from "../GuestState.js"
import { lxcFeaturesFormat, lxcNetFormat, lxcVolumeFormat } from "../LxcConfigSchema.js"
import { die, permFail, type Reply } from "../Reply.js"
import { needOn, needVm, parsed, truthy } from "./ConfigCheckBasics.js"
import type { Ctx } from "./Context.js"

/** `check_ct_modify_config_perm` for feature flags: nesting alone wants VM.Allocate, anything else root@pam. */
const featuresPermission = (ctx: Ctx, g: GuestState, value: string | undefined): Reply | undefined => {
  if (!truthy(g.config.get("unprivileged"))) {
    return permFail("changing feature flags for privileged container is only allowed for root@pam")
  }
  const oldValue = g.config.get("features")
  const before = truthy(oldValue) ? parsed(lxcFeaturesFormat, oldValue ?? "") : new Map<string, string>()
  const onlyNesting = (m: ReadonlyMap<string, string>): boolean => m.size === 1 && m.has("nesting")
  let nesting = false
  let other = false
  if (value === undefined) {
    nesting = onlyNesting(before)
    other = !nesting && before.size > 0
  } else {
    const after = truthy(value) ? parsed(lxcFeaturesFormat, value) : new Map<string, string>()
    if (truthy(oldValue)) {
      for (const feature of new Set([...before.keys(), ...after.keys()])) {
        if ((before.get(feature) ?? "") === (after.get(feature) ?? "")) continue
        if (feature === "nesting") nesting = true
        else other = true
      }
    } else {
      nesting = onlyNesting(after)
      other = !nesting && after.size > 0
    }
  }
  if (other) return permFail("changing feature flags (except nesting) is only allowed for root@pam")
  return nesting ? needVm(ctx, ["VM.Allocate"]) : undefined
}

/** `check_ct_modify_config_perm` for rootfs/mpN: a bind or device mount is root@pam's; a new volume wants its storage. */
const mountPermission = (ctx: Ctx, key: string, value: string | undefined): Reply | undefined => {
  const denied = needVm(ctx, ["VM.Config.Disk"])
  const format = lxcVolumeFormat(key)
  if (denied !== undefined || value === undefined || format === undefined) return denied
  const volume = parsed(format, value).get("volume") ?? ""
  const type = volume.startsWith("/") ? (volume.startsWith("/dev/") ? "device" : "bind") : "volume"
  if (type !== "volume") return permFail(`mount point type ${type} is only allowed for root@pam`)
  const storage = /^([^:\s]+):(\d+(\.\d+)?)$/.exec(volume)?.[1]
  return storage === undefined ? undefined : needOn(ctx, `/storage/${storage}`, ["Datastore.AllocateSpace"])
}

export const lxcKeyChecks = (ctx: Ctx, g: GuestState, key: string, value: string | undefined): Reply | undefined => {
  if (key === "features") return featuresPermission(ctx, g, value)
  if (key === "rootfs" || /^mp\d+$/.test(key)) return mountPermission(ctx, key, value)
  return undefined
}

/** `update_pct_config`'s network check: SLAAC cannot be host-managed. */
export const lxcNetProblem = (key: string, value: string): Reply | undefined => {
  const net = parsed(lxcNetFormat, value)
  return net.get("link_down") !== "1" && truthy(net.get("host-managed")) && net.get("ip6") === "auto"
    ? die(`${key}: SLAAC is not supported for host-managed network configuration.`)
    : undefined
}
