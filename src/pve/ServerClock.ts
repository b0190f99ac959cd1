/**
 * PVE's clock as the agent sees it. Every answer of pveproxy carries a `Date` header stamped
 * from the server's `time()` as the answer is written (pve-http-server,
 * `PVE::APIServer::AnyEvent::response`), and a UPID's start time comes from the same clock
 * (pve-common `PVE::RESTEnvironment::fork_worker`). Comparing a UPID with a time the agent
 * recorded therefore needs the difference between the two clocks.
 *
 * One sample is `Date − our receive time`. The header is truncated to the second and stamped
 * before the answer travels, so a sample never exceeds the true skew: `recorded + sample` is a
 * time PVE's clock had not yet reached when we recorded. That lower bound is what a task
 * search needs — a task started after our request was sent is never excluded by it.
 */
import { Option } from "effect"

export interface ServerClock {
  /** Takes one sample from an answer's `Date` header (ignored when absent or unparsable). */
  readonly observe: (dateHeader: string | undefined, receivedAtMillis: number) => void
  /** PVE's clock minus ours in milliseconds (latest sample, a lower bound); none before any answer. */
  readonly skewMillis: () => Option.Option<number>
}

export const makeServerClock = (): ServerClock => {
  let latest: Option.Option<number> = Option.none()
  return {
    observe: (dateHeader, receivedAtMillis) => {
      if (dateHeader === undefined) return
      const serverMillis = Date.parse(dateHeader)
      if (Number.isFinite(serverMillis)) latest = Option.some(serverMillis - receivedAtMillis)
    },
    skewMillis: () => latest
  }
}
