/**
 * Pure mapping from PVE's error answers to typed errors (pve-manager `PVE::HTTPServer::rest_handler`;
 * the texts come from pve-common `PVE::Exception`, pve-guest-common `PVE::AbstractConfig`
 * `check_lock`/`lock_config`, qemu-server and pve-container handlers). PVE's messages
 * are the only discriminator it offers, so each pattern below quotes the exact text it raises.
 */
import {
  PveApiError,
  PveConfigBusy,
  PveDigestMismatch,
  type PveError,
  PveGuestLocked,
  PveGuestState,
  PveNotFound,
  PveParameterError,
  PvePermissionDenied,
  PveUnauthorized
} from "./PveError.js"

export interface ErrorAnswer {
  readonly method: string
  readonly path: string
  readonly status: number
  /** Body `message` (PVE ≥ 8.3) or else the status line's reason phrase; may end in `\n`. */
  readonly text: string
  readonly errors: Readonly<Record<string, string>>
}

const PERMISSION_RE = /^Permission check failed \((.+), ([^,()]+)\)$/
const NOT_FOUND_RES = [
  /Configuration file '[^']+' does not exist/,
  /unable to find configuration file for VM \d+/,
  /snapshot '[^']+' does not exist/,
  /no such task/
]
const LOCKED_RE = /^(?:VM|CT) is locked \(([^)]+)\)/
const FLOCK_RE = /can't lock file '[^']+' - got timeout/
const DIGEST_RES = [/checksum mismatch/, /detected modified configuration/]
const ALREADY_RUNNING_RE = /^(?:VM|CT) \d+ already running/
const NOT_RUNNING_RE = /^(?:VM|CT) \d+ not running/

/** The message PVE gave, without the trailing newline `die` leaves in it. */
const firstLine = (text: string): string => text.trim().split("\n")[0] ?? ""

export const toPveError = (answer: ErrorAnswer): PveError => {
  const { method, path, status, errors } = answer
  const detail = answer.text.trim()
  const line = firstLine(detail)
  if (status === 401) return new PveUnauthorized({ method, path, reason: line || "Authentication failed!" })
  if (status === 403) {
    const m = PERMISSION_RE.exec(line)
    return m !== null
      ? new PvePermissionDenied({ method, path, aclPath: m[1], privilege: m[2], detail: line })
      : new PvePermissionDenied({ method, path, detail: line })
  }
  const paramTexts = Object.values(errors)
  // "no such task" arrives as a 400 parameter error on `upid`; the others as 500s.
  const notFound = [detail, ...paramTexts].find((t) => NOT_FOUND_RES.some((re) => re.test(t)))
  if (notFound !== undefined) return new PveNotFound({ method, path, detail: firstLine(notFound) })
  if (Object.keys(errors).length > 0 || status === 400) {
    return new PveParameterError({ method, path, errors, detail: line })
  }
  const locked = LOCKED_RE.exec(line)
  if (locked !== null) return new PveGuestLocked({ method, path, lock: locked[1] ?? "", detail: line })
  if (FLOCK_RE.test(line)) return new PveConfigBusy({ method, path, detail: line })
  if (DIGEST_RES.some((re) => re.test(line))) return new PveDigestMismatch({ method, path, detail: line })
  if (ALREADY_RUNNING_RE.test(line)) return new PveGuestState({ method, path, state: "running", detail: line })
  if (NOT_RUNNING_RE.test(line)) return new PveGuestState({ method, path, state: "not running", detail: line })
  return new PveApiError({ method, path, status, detail: line || `HTTP ${status}` })
}
