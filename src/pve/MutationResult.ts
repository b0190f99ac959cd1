/**
 * What a PVE mutation answered: a task to wait on, or synchronous success (`{"data":null}`).
 * Both are success paths (docs/architecture.md, invariant 4); which one a call takes is PVE's choice —
 * qemu config POST vs PUT, lxc PUT, `background_delay` finishing in time — so it is data.
 */
import { Data } from "effect"
import type { UpidString } from "../domain/Upid.js"

export type MutationResult = Data.TaggedEnum<{
  Task: { readonly upid: UpidString }
  Sync: {}
}>
export const MutationResult = Data.taggedEnum<MutationResult>()
