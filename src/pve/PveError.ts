/**
 * What can go wrong talking to PVE, as data. Each error is mapped from PVE's real answers
 * (pve-manager `PVE::HTTPServer::rest_handler`, pve-http-server `PVE::APIServer::AnyEvent::response`):
 * the status code, and the message PVE puts in the body (libpve-http-server-perl ≥ 5.2,
 * `PVE::APIServer::Formatter::Standard::prepare_response_data`) or only in the status line's
 * reason phrase (older servers).
 * No error ever carries the token secret: requests are described by method and path only.
 */
import { Schema } from "effect"

const Request = {
  method: Schema.String,
  path: Schema.String
}

/** 401: bad, expired or unknown token ("Authentication failed!"), or none sent ("No ticket"). */
export class PveUnauthorized extends Schema.TaggedError<PveUnauthorized>()("PveUnauthorized", {
  ...Request,
  reason: Schema.String
}) {
  override get message(): string {
    return `PVE refused the API token (401 ${this.reason}) on ${this.method} ${this.path}`
  }
}

/** 403 "Permission check failed (/vms/100, VM.PowerMgmt)", or another 403 text PVE gives. */
export class PvePermissionDenied extends Schema.TaggedError<PvePermissionDenied>()("PvePermissionDenied", {
  ...Request,
  aclPath: Schema.optional(Schema.String),
  privilege: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  override get message(): string {
    return this.aclPath !== undefined && this.privilege !== undefined
      ? `permission denied: the token lacks ${this.privilege} on ${this.aclPath} (${this.method} ${this.path})`
      : `permission denied: ${this.detail} (${this.method} ${this.path})`
  }
}

/** The guest's config, a snapshot or a task does not exist (where PVE says so synchronously). */
export class PveNotFound extends Schema.TaggedError<PveNotFound>()("PveNotFound", {
  ...Request,
  detail: Schema.String
}) {
  override get message(): string {
    return `not found: ${this.detail} (${this.method} ${this.path})`
  }
}

/** "VM is locked (backup)" / "CT is locked (snapshot)". */
export class PveGuestLocked extends Schema.TaggedError<PveGuestLocked>()("PveGuestLocked", {
  ...Request,
  lock: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `guest is locked (${this.lock}) (${this.method} ${this.path})`
  }
}

/** "can't lock file '…' - got timeout": another writer held the guest's config flock for 10 s. */
export class PveConfigBusy extends Schema.TaggedError<PveConfigBusy>()("PveConfigBusy", {
  ...Request,
  detail: Schema.String
}) {
  override get message(): string {
    return `guest config is busy: ${this.detail} (${this.method} ${this.path})`
  }
}

/** The config changed since the digest we planned against (qemu and lxc word it differently). */
export class PveDigestMismatch extends Schema.TaggedError<PveDigestMismatch>()("PveDigestMismatch", {
  ...Request,
  detail: Schema.String
}) {
  override get message(): string {
    return `config changed since it was read (digest mismatch): ${this.detail} (${this.method} ${this.path})`
  }
}

/** "CT 100 already running", "VM 100 not running" and the like. */
export class PveGuestState extends Schema.TaggedError<PveGuestState>()("PveGuestState", {
  ...Request,
  state: Schema.Literal("running", "not running"),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.detail} (${this.method} ${this.path})`
  }
}

/** 400 "Parameter verification failed." with PVE's per-parameter `errors` map. */
export class PveParameterError extends Schema.TaggedError<PveParameterError>()("PveParameterError", {
  ...Request,
  errors: Schema.Record({ key: Schema.String, value: Schema.String }),
  detail: Schema.String
}) {
  override get message(): string {
    const each = Object.entries(this.errors).map(([k, v]) => `${k}: ${v.trim()}`)
    return `PVE rejected parameters (${each.length > 0 ? each.join("; ") : this.detail}) (${this.method} ${this.path})`
  }
}

/** Any other error answer (5xx from a handler `die`, 501, proxy errors). */
export class PveApiError extends Schema.TaggedError<PveApiError>()("PveApiError", {
  ...Request,
  status: Schema.Number,
  detail: Schema.String
}) {
  override get message(): string {
    return `PVE answered ${this.status} ${this.detail} (${this.method} ${this.path})`
  }
}

/** A task stopped with an exit status other than `OK` or `WARNINGS: N`. */
export class PveTaskFailed extends Schema.TaggedError<PveTaskFailed>()("PveTaskFailed", {
  upid: Schema.String,
  exitstatus: Schema.String
}) {
  override get message(): string {
    return `task ${this.upid} failed: ${this.exitstatus}`
  }
}

/** A request or a task wait ran past its deadline. */
export class PveTimeout extends Schema.TaggedError<PveTimeout>()("PveTimeout", {
  operation: Schema.String,
  afterMillis: Schema.Number
}) {
  override get message(): string {
    return `timed out after ${this.afterMillis} ms: ${this.operation}`
  }
}

/**
 * The connection failed. `requestSent` is false only when the failure happened before any
 * byte of the request left (connect refused, DNS, TLS handshake or pin mismatch): only then
 * is a mutation certainly not applied.
 */
export class PveTransport extends Schema.TaggedError<PveTransport>()("PveTransport", {
  ...Request,
  code: Schema.optional(Schema.String),
  requestSent: Schema.Boolean,
  reason: Schema.String
}) {
  override get message(): string {
    return `transport error on ${this.method} ${this.path}: ${this.reason}`
  }
}

/** PVE answered something our schemas do not accept; `issue` is the Schema's message. */
export class PveBadResponse extends Schema.TaggedError<PveBadResponse>()("PveBadResponse", {
  ...Request,
  issue: Schema.String
}) {
  override get message(): string {
    return `unexpected answer to ${this.method} ${this.path}: ${this.issue}`
  }
}

export type PveError =
  | PveUnauthorized
  | PvePermissionDenied
  | PveNotFound
  | PveGuestLocked
  | PveConfigBusy
  | PveDigestMismatch
  | PveGuestState
  | PveParameterError
  | PveApiError
  | PveTimeout
  | PveTransport
  | PveBadResponse

export type PveWaitError = PveError | PveTaskFailed

/**
 * A failed read that may pass on its own — worth retrying a read or a poll: the transport, a
 * timeout, a config file lock held by a task, a 5xx. Everything else (401, 403, other 4xx, an
 * answer we cannot decode) is final. Never a reason to re-send a mutation.
 */
export const isTransient = (e: { readonly _tag: string }): boolean =>
  e._tag === "PveTransport" || e._tag === "PveTimeout" || e._tag === "PveConfigBusy" ||
  (e._tag === "PveApiError" && "status" in e && typeof e.status === "number" && e.status >= 500)
