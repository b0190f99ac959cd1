/**
 * API tokens and ACLs (pve-access-control `PVE::RPCEnvironment`). A token's effective
 * privileges on a path are the ACLs granted to the token, limited to the user's (privsep=1), or
 * the user's (privsep=0).
 * ACLs propagate down the path tree; a deeper ACL for the same subject replaces inherited
 * ones (pve-access-control `PVE::RPCEnvironment::permissions`). Pure.
 */
export interface Acl {
  readonly path: string
  readonly privs: ReadonlyArray<string>
  readonly propagate?: boolean
}

export interface TokenRecord {
  readonly tokenid: string
  readonly secret: string
  readonly privsep: boolean
  readonly acls: ReadonlyArray<Acl>
  /** The owning user's ACLs; undefined = the user holds every privilege on `/`. */
  readonly userAcls: ReadonlyArray<Acl> | undefined
}

/** PVE 9 privilege list (pve-access-control `PVE::AccessControl` `$privgroups`), trimmed to what matters. */
export const ALL_PRIVS: ReadonlyArray<string> = [
  "Datastore.Allocate",
  "Datastore.AllocateSpace",
  "Datastore.AllocateTemplate",
  "Datastore.Audit",
  "Group.Allocate",
  "Mapping.Audit",
  "Mapping.Modify",
  "Mapping.Use",
  "Permissions.Modify",
  "Pool.Allocate",
  "Pool.Audit",
  "Realm.Allocate",
  "Realm.AllocateUser",
  "SDN.Allocate",
  "SDN.Audit",
  "SDN.Use",
  "Sys.AccessNetwork",
  "Sys.Audit",
  "Sys.Console",
  "Sys.Incoming",
  "Sys.Modify",
  "Sys.PowerMgmt",
  "Sys.Syslog",
  "User.Modify",
  "VM.Allocate",
  "VM.Audit",
  "VM.Backup",
  "VM.Clone",
  "VM.Config.CDROM",
  "VM.Config.CPU",
  "VM.Config.Cloudinit",
  "VM.Config.Disk",
  "VM.Config.HWType",
  "VM.Config.Memory",
  "VM.Config.Network",
  "VM.Config.Options",
  "VM.Console",
  "VM.GuestAgent.Audit",
  "VM.GuestAgent.FileRead",
  "VM.GuestAgent.FileSystemMgmt",
  "VM.GuestAgent.FileWrite",
  "VM.GuestAgent.Unrestricted",
  "VM.Migrate",
  "VM.PowerMgmt",
  "VM.Replicate",
  "VM.Snapshot",
  "VM.Snapshot.Rollback"
]

const expand = (privs: ReadonlyArray<string>): Array<string> =>
  privs.flatMap((p) => (p === "*" || p === "Administrator" ? ALL_PRIVS : [p]))

const ancestors = (path: string): Array<string> => {
  const parts = path.split("/").filter((x) => x !== "")
  const out = ["/"]
  for (let i = 1; i <= parts.length; i++) out.push(`/${parts.slice(0, i).join("/")}`)
  return out
}

const normPath = (p: string): string => (p === "/" ? "/" : `/${p.split("/").filter((x) => x !== "").join("/")}`)

/** Privileges from one subject's ACLs on `path`. */
export const privsOf = (acls: ReadonlyArray<Acl>, path: string): Set<string> => {
  const target = normPath(path)
  let current = new Set<string>()
  for (const p of ancestors(target)) {
    const here = acls.filter((a) => normPath(a.path) === p && (a.propagate !== false || p === target))
    if (here.length > 0) current = new Set(here.flatMap((a) => expand(a.privs)))
  }
  return current
}

export const effectivePrivs = (t: TokenRecord, path: string): Set<string> => {
  const user = t.userAcls === undefined ? new Set(ALL_PRIVS) : privsOf(t.userAcls, path)
  if (!t.privsep) return user
  return new Set([...privsOf(t.acls, path)].filter((p) => user.has(p)))
}

export const hasPriv = (t: TokenRecord, path: string, priv: string): boolean => effectivePrivs(t, path).has(priv)

/** GET /access/permissions: `{ path: { Priv: 1 } }` for every path the token has ACLs on. */
export const permissionsView = (t: TokenRecord, path: string | undefined): Record<string, Record<string, number>> => {
  const paths = path !== undefined
    ? [normPath(path)]
    : [
      ...new Set([
        "/",
        ...t.acls.map((a) => normPath(a.path)),
        ...(t.privsep ? [] : (t.userAcls ?? []).map((a) => normPath(a.path)))
      ])
    ]
  const out: Record<string, Record<string, number>> = {}
  for (const p of paths) {
    const privs = [...effectivePrivs(t, p)].sort()
    if (privs.length === 0 && path === undefined) continue
    out[p] = Object.fromEntries(privs.map((x) => [x, 1]))
  }
  return out
}

const TOKEN_ID_RE = /^([^\s:/]+)@([A-Za-z][A-Za-z0-9.\-_]+)!([A-Za-z][A-Za-z0-9.\-_]+)$/

export const isTokenId = (s: string): boolean => TOKEN_ID_RE.test(s)

const unescape = (s: string): string | undefined => {
  try {
    return decodeURIComponent(s)
  } catch {
    return undefined
  }
}

/**
 * pve-http-server `PVE::APIServer::Formatter::extract_auth_value` + pve-access-control
 * `PVE::AccessControl::verify_token` parsing: keyword `PVEAPIToken`
 * followed by `=` or whitespace, value up to `;`, URI-unescaped, split at the LAST `=`.
 */
export const parseTokenHeader = (header: string): { readonly tokenid: string; readonly secret: string } | undefined => {
  const m = /^PVEAPIToken[=\s]\s*([^;]*)/.exec(header)
  if (m === null || m[1] === undefined) return undefined
  const value = unescape(m[1].trim())
  if (value === undefined) return undefined
  const i = value.lastIndexOf("=")
  if (i < 0) return undefined
  const tokenid = value.slice(0, i)
  if (!TOKEN_ID_RE.test(tokenid)) return undefined
  return { tokenid, secret: value.slice(i + 1) }
}

/** `user@realm` part of a token id. */
export const tokenUser = (tokenid: string): string => tokenid.slice(0, tokenid.indexOf("!"))
