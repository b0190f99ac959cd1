/**
 * What a handler sees: the cluster, the authenticated token, the merged parameters and the
 * URI parameters; plus the checks every guest endpoint repeats (privilege, schema, config
 * exists on that node, lock) as Either so handlers stay linear without throwing. A handler is
 * `Either.merge(Either.gen(...))`: the first failing check's Reply is the answer.
 */
import { Either } from "effect"
import { effectivePrivs, type TokenRecord } from "../Access.js"
import type { SimCluster } from "../Cluster.js"
import { configPath, type GuestKind, type GuestState, noun } from "../GuestState.js"
import { hasErrors, nodeSpec, type Params, type ParamSpec, type Schema, validate, vmidSpec } from "../Params.js"
import { die, paramFail, permFail, type Reply } from "../Reply.js"

export interface Ctx {
  readonly cluster: SimCluster
  readonly token: TokenRecord
  readonly params: Params
  readonly uri: Readonly<Record<string, string>>
  readonly method: string
  /**
   * The node whose listener answered (`PVE::INotify::nodename()` of the pveproxy/pvedaemon
   * that ran the handler). Only GET /cluster/status shows it; every other endpoint answers the
   * same on every node, since pveproxy forwards /nodes/OTHER/... to that node.
   */
  readonly localNode: string
}

export type Check<A> = Either.Either<A, Reply>

/** Schema check of all parameters (URI ones included, as `PVE::HTTPServer::rest_handler` merges them). */
export const check = (
  ctx: Ctx,
  schema: Schema | ((key: string) => ParamSpec | undefined),
  required: ReadonlyArray<string> = []
): Check<Record<string, string>> => {
  const { values, errors } = validate(schema, ctx.params, required)
  return hasErrors(errors) ? Either.left(paramFail(errors)) : Either.right(values)
}

export const need = (ctx: Ctx, path: string, priv: string): Check<void> =>
  effectivePrivs(ctx.token, path).has(priv) ? Either.void : Either.left(permFail(`${path}, ${priv}`))

/** `check => ['perm', path, [privs], any => 1]`: the message lists the alternatives with `|`. */
export const needAny = (ctx: Ctx, path: string, privs: ReadonlyArray<string>): Check<void> => {
  const have = effectivePrivs(ctx.token, path)
  return privs.some((p) => have.has(p)) ? Either.void : Either.left(permFail(`${path}, ${privs.join("|")}`))
}

export const vmPath = (vmid: string | number): string => `/vms/${vmid}`

/** `PVE::AbstractConfig::load_config`: the guest must live on the requested node with that type. */
export const findGuest = (cluster: SimCluster, node: string, kind: GuestKind, vmid: number): GuestState | undefined => {
  const g = cluster.guests.get(vmid)
  return g !== undefined && g.node === node && g.kind === kind ? g : undefined
}

export const notExistText = (kind: GuestKind, node: string, vmid: number): string =>
  `Configuration file '${configPath(kind, node, vmid)}' does not exist`

export const loadGuest = (ctx: Ctx, kind: GuestKind, node: string, vmid: number): Check<GuestState> => {
  const g = findGuest(ctx.cluster, node, kind, vmid)
  return g === undefined ? Either.left(die(notExistText(kind, node, vmid))) : Either.right(g)
}

/** `PVE::AbstractConfig::check_lock` text: "VM is locked (backup)" / "CT is locked (backup)". */
export const lockError = (g: GuestState): string | undefined => {
  const lock = g.config.get("lock")
  return lock === undefined ? undefined : `${noun(g.kind)} is locked (${lock})`
}

export const isTemplate = (g: GuestState): boolean => g.config.get("template") === "1"

export const kindOf = (segment: string | undefined): GuestKind => (segment === "lxc" ? "lxc" : "qemu")

export const uriVmid = (ctx: Ctx): number => Number(ctx.uri["vmid"] ?? "0")
export const uriNode = (ctx: Ctx): string => ctx.uri["node"] ?? ""

/**
 * The `skiplock` rule (qemu-server `PVE::API2::Qemu::vm_start`, pve-container
 * `PVE::API2::LXC::Status`): only root@pam, never a token.
 */
export const skiplockError = (values: Record<string, string>): Reply | undefined =>
  values["skiplock"] === "1" ? paramFail({ skiplock: "Only root may use this option." }) : undefined

/** The URI parameters every /nodes/N/{qemu,lxc}/VMID endpoint declares. */
export const guestParams: Schema = { node: nodeSpec, vmid: vmidSpec }

/** A guest endpoint's request once its preamble passed: the guest it names and the checked parameters. */
export interface GuestCall {
  readonly kind: GuestKind
  readonly vmid: number
  readonly node: string
  readonly values: Record<string, string>
}

export interface Preamble {
  /** Privilege on /vms/VMID; several = any of them (`check => ['perm', path, [privs], any => 1]`). */
  readonly priv: string | ReadonlyArray<string>
  readonly params: Schema | ((kind: GuestKind) => Schema)
  readonly required?: ReadonlyArray<string>
}

/**
 * The preamble of endpoints whose `check => ['perm', ...]` runs before parameter verification:
 * privilege first, then parameters. The config writes check per-key privileges on the parsed
 * parameters instead, so they do not use this.
 */
export const guestCall = (ctx: Ctx, preamble: Preamble): Check<GuestCall> =>
  Either.gen(function*() {
    const kind = kindOf(ctx.uri["kind"])
    const vmid = uriVmid(ctx)
    yield* needAny(ctx, vmPath(vmid), typeof preamble.priv === "string" ? [preamble.priv] : preamble.priv)
    const schema = typeof preamble.params === "function" ? preamble.params(kind) : preamble.params
    const values = yield* check(ctx, schema, preamble.required)
    return { kind, vmid, node: uriNode(ctx), values }
  })

/** `guestCall`, then `load_config`: for endpoints that answer from the guest's current state. */
export const guestRequest = (ctx: Ctx, preamble: Preamble): Check<GuestCall & { readonly guest: GuestState }> =>
  Either.gen(function*() {
    const call = yield* guestCall(ctx, preamble)
    const guest = yield* loadGuest(ctx, call.kind, call.node, call.vmid)
    return { ...call, guest }
  })
