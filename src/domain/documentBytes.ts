/**
 * What every document from outside must be before it is parsed at all — a desired state from a
 * file or the CLI: at most `maxBytes` long and strict UTF-8. A larger document is refused
 * unread (`plan --desired /dev/zero` once grew the process to 6.5 GB), and bytes that are not
 * UTF-8 are refused rather than replaced with U+FFFD and written to PVE.
 */
import { Either } from "effect"

/** The default limit: far above any real desired document, far below a hypervisor's memory. */
export const DEFAULT_MAX_DOCUMENT_BYTES = 1024 * 1024

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** The text of `bytes`, or why it is refused. */
export const documentText = (bytes: Uint8Array, maxBytes: number): Either.Either<string, string> => {
  if (bytes.length > maxBytes) return Either.left(`larger than ${maxBytes} bytes`)
  try {
    return Either.right(utf8.decode(bytes))
  } catch {
    return Either.left("not valid UTF-8")
  }
}
