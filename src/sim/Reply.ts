/**
 * What an API handler answers, before the HTTP layer renders it (pve-http-server
 * `PVE::APIServer::Formatter::Standard::prepare_response_data`, pve-manager
 * `PVE::HTTPServer::rest_handler`):
 * success = `{"data": ..., total?}`; failure = status + message (reason phrase = first line)
 * + optional per-parameter `errors`; 401s have an empty body.
 */
export type Reply =
  | { readonly _tag: "Ok"; readonly data: unknown; readonly total?: number }
  | {
    readonly _tag: "Fail"
    readonly status: number
    readonly message: string
    readonly errors?: Readonly<Record<string, string>>
  }
  | { readonly _tag: "AuthFail"; readonly reason: "Authentication failed!" | "No ticket" }

export type ParamErrors = Record<string, string>

export const ok = (data: unknown, total?: number): Reply =>
  total === undefined ? { _tag: "Ok", data } : { _tag: "Ok", data, total }

/** A Perl `die "text\n"` in a handler: 500 and the text (with its newline) as message. */
export const die = (text: string, status = 500): Reply => ({ _tag: "Fail", status, message: `${text}\n` })

/** `raise_param_exc`: 400 "Parameter verification failed." with per-parameter texts. */
export const paramFail = (errors: ParamErrors): Reply => ({
  _tag: "Fail",
  status: 400,
  message: "Parameter verification failed.\n",
  errors
})

/** `raise_perm_exc` (pve-common `PVE::Exception`): 403 "Permission check failed (PATH, PRIV)". */
export const permFail = (what: string): Reply => ({
  _tag: "Fail",
  status: 403,
  message: `Permission check failed (${what})\n`
})

export const notImplemented = (method: string, path: string): Reply => ({
  _tag: "Fail",
  status: 501,
  message: `Method '${method} ${path}' not implemented`
})

export const isFail = (r: Reply): r is Extract<Reply, { _tag: "Fail" }> => r._tag === "Fail"
