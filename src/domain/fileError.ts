/**
 * A platform error about a file, as the few words an operator needs ("no such file"), for
 * every place that reads a file an operator named: the desired document, the token, the CA,
 * an envelope.
 */
import type { PlatformError } from "@effect/platform/Error"

export const fileErrorReason = (e: PlatformError): string => {
  if (e._tag !== "SystemError") return e.message
  switch (e.reason) {
    case "NotFound":
      return "no such file"
    case "PermissionDenied":
      return "permission denied"
    case "BadResource":
      return "not a readable file"
    default:
      return e.message
  }
}
