/**
 * The two reversible selftest tasks. Each one checks every PVE answer it gets, and on any
 * failure (or interruption) runs a cleanup that looks at the guest again and undoes only what
 * this run left behind: the snapshot it created, the marker it wrote. A description someone
 * else changed in the meantime is reported, never overwritten.
 */
import { Effect } from "effect"
import type { ConfigValue } from "../domain/GuestConfig.js"
import { isEqual } from "../reconcile/normalize.js"
import { check, expectThat, mutate, type StepContext } from "./steps.js"

export const SNAPSHOT_PREFIX = "felhom-selftest-"

/**
 * `felhom-selftest-YYYYMMDD-HHMMSS-mmm`: 35 characters, inside PVE's snapshot name rule
 * (`^[a-z][a-z0-9_-]+$`, at most 40; pve-common `PVE::JSONSchema` `pve-snapshot-name`), and
 * unique per run to the millisecond.
 */
export const snapshotName = (at: Date): string => {
  const iso = at.toISOString() // 2026-05-12T10:15:30.123Z
  return `${SNAPSHOT_PREFIX}${iso.slice(0, 10).replaceAll("-", "")}-${iso.slice(11, 19).replaceAll(":", "")}-${
    iso.slice(20, 23)
  }`
}

const names = (ctx: StepContext) => Effect.map(ctx.pve.snapshots(ctx.guest), (all) => all.map((s) => s.name))

const deleteSnapshot = (ctx: StepContext, name: string, cleanup: boolean) =>
  mutate(ctx, {
    task: "snapshot",
    step: cleanup ? `cleanup: delete leftover ${name}` : `delete ${name}`,
    action: cleanup ? "selftest-cleanup-snapshot-delete" : "selftest-snapshot-delete",
    params: { snapname: name },
    preState: null,
    preDigest: null,
    inverse: null,
    call: ctx.pve.deleteSnapshot(ctx.guest, name),
    cleanup
  })

const expectGone = (ctx: StepContext, name: string, cleanup: boolean) =>
  check(
    ctx,
    { task: "snapshot", step: `${cleanup ? "cleanup: " : ""}${name} gone`, cleanup },
    Effect.flatMap(names(ctx), (all) =>
      expectThat(!all.includes(name), { value: undefined, detail: "not listed any more" }, `still listed after delete`))
  )

/** After a failure: delete our snapshot if PVE still lists it (also a half-created one). */
const cleanupSnapshot = (ctx: StepContext, name: string) =>
  Effect.gen(function*() {
    const present = yield* check(
      ctx,
      { task: "snapshot", step: `cleanup: look for ${name}`, cleanup: true },
      Effect.map(names(ctx), (all) => {
        const found = all.includes(name)
        return { value: found, detail: found ? "left behind; deleting it" : "not present; nothing to undo" }
      })
    )
    if (!present) return
    yield* deleteSnapshot(ctx, name, true)
    yield* expectGone(ctx, name, true)
  }).pipe(Effect.ignore) // each failed cleanup step is already in the report

/**
 * create → listed → rollback → (start again) → delete → gone. The snapshot is taken without
 * RAM state and rolled back without `start`, so rolling back to a snapshot taken moments ago
 * changes nothing on the guest's disks. A rollback stops a running guest first (pve-guest-common
 * PVE::AbstractConfig::snapshot_rollback), so a guest that was running is started again and
 * awaited until it runs: the guest ends as it was found, power state included.
 */
export const snapshotTask = (ctx: StepContext, name: string, wasRunning: boolean) =>
  Effect.gen(function*() {
    const before = yield* check(
      ctx,
      { task: "snapshot", step: "list snapshots" },
      Effect.map(names(ctx), (all) => ({ value: all, detail: all.length === 0 ? "none" : all.join(", ") }))
    )
    yield* mutate(ctx, {
      task: "snapshot",
      step: `create ${name}`,
      action: "selftest-snapshot-create",
      params: { snapname: name },
      preState: { snapshots: [...before] },
      preDigest: null,
      inverse: { action: "selftest-snapshot-delete", snapname: name },
      call: ctx.pve.createSnapshot(ctx.guest, { name, description: "felhom-agent selftest; safe to delete" })
    })
    yield* check(
      ctx,
      { task: "snapshot", step: `${name} listed` },
      Effect.flatMap(ctx.pve.snapshots(ctx.guest), (all) => {
        const entry = all.find((s) => s.name === name)
        return entry === undefined
          ? expectThat(false, { value: undefined, detail: "" }, "not listed after create")
          : expectThat(
            entry.snapstate === undefined,
            { value: undefined, detail: "listed, complete" },
            `listed with snapstate ${entry.snapstate ?? ""}`
          )
      })
    )
    yield* mutate(ctx, {
      task: "snapshot",
      step: `rollback to ${name}`,
      action: "selftest-snapshot-rollback",
      params: { snapname: name },
      preState: null,
      preDigest: null,
      inverse: null,
      call: ctx.pve.rollbackSnapshot(ctx.guest, name)
    })
    if (wasRunning) yield* startAgain(ctx, false)
    yield* deleteSnapshot(ctx, name, false)
    yield* expectGone(ctx, name, false)
    yield* expectPower(ctx, wasRunning ? "running" : "stopped", false)
  }).pipe(
    Effect.onError(() =>
      Effect.zipRight(cleanupSnapshot(ctx, name), wasRunning ? Effect.ignore(restartIfStopped(ctx)) : Effect.void)
    )
  )

const status = (ctx: StepContext) => Effect.map(ctx.pve.status(ctx.guest), (s) => s.status)

/** The guest's power state as the selftest found it, checked at the end of the task. */
const expectPower = (ctx: StepContext, want: "running" | "stopped", cleanup: boolean) =>
  check(
    ctx,
    { task: "snapshot", step: `power state as found: ${want}`, cleanup },
    Effect.flatMap(
      status(ctx),
      (now) => expectThat(now === want, { value: undefined, detail: now }, `the guest is ${now}, it was ${want}`)
    )
  )

/** Starts the guest the rollback stopped, and waits until status/current says running. */
const startAgain = (ctx: StepContext, cleanup: boolean) =>
  Effect.gen(function*() {
    yield* mutate(ctx, {
      task: "snapshot",
      step: cleanup ? "cleanup: start the guest again" : "start the guest again (the rollback stopped it)",
      action: cleanup ? "selftest-cleanup-start" : "selftest-start",
      params: {},
      preState: { status: "stopped" },
      preDigest: null,
      inverse: null,
      call: ctx.pve.power(ctx.guest, "start")
    })
    yield* check(
      ctx,
      { task: "snapshot", step: "running again", cleanup },
      Effect.flatMap(
        status(ctx),
        (now) => expectThat(now === "running", { value: undefined, detail: now }, `status is ${now} after start`)
      )
    )
  })

/** After a failure: a guest that was running and is stopped now is started again. */
const restartIfStopped = (ctx: StepContext) =>
  Effect.flatMap(status(ctx), (now) => (now === "stopped" ? startAgain(ctx, true) : Effect.void))

/** A marker no one else writes: time plus 48 random bits. */
export const descriptionMarker = (at: Date, random: string): string => `felhom-selftest ${at.toISOString()} ${random}`

const describeValue = (v: ConfigValue | undefined): string =>
  v === undefined ? "absent" : `${JSON.stringify(v).slice(0, 60)}${JSON.stringify(v).length > 60 ? "…" : ""}`

const readDescription = (ctx: StepContext) =>
  Effect.map(ctx.pve.config(ctx.guest), (c) => ({ digest: c.digest, description: c.values["description"] }))

/**
 * Same description for PVE: through the normalizer, since qemu trims and lxc adds a `\n`
 * (`PVE::QemuServer::parse_vm_config`, `PVE::LXC::Config::parse_pct_config`).
 */
const same = (ctx: StepContext, a: ConfigValue | undefined, b: ConfigValue | undefined): boolean =>
  (a === undefined) === (b === undefined) && isEqual(ctx.guest.type, "description", a, b)

const restore = (ctx: StepContext, original: ConfigValue | undefined, digest: string, cleanup: boolean) =>
  mutate(ctx, {
    task: "config",
    step: cleanup
      ? "cleanup: restore description"
      : original === undefined
      ? "delete description (was absent)"
      : "restore description",
    action: cleanup ? "selftest-cleanup-config-restore" : "selftest-config-restore",
    params: original === undefined ? { delete: ["description"], digest } : { set: { description: original }, digest },
    preState: null,
    preDigest: digest,
    inverse: null,
    // The digest makes PVE refuse the write if someone changed the config since our read
    // (pve-common `PVE::Tools::assert_if_modified`).
    call: ctx.pve.setConfig(
      ctx.guest,
      original === undefined
        ? { set: {}, delete: ["description"], digest, mode: "async" }
        : { set: { description: original }, delete: [], digest, mode: "async" }
    ),
    cleanup
  })

const verifyRestored = (ctx: StepContext, original: ConfigValue | undefined, cleanup: boolean) =>
  check(
    ctx,
    { task: "config", step: cleanup ? "cleanup: verify restore" : "verify restore", cleanup },
    Effect.flatMap(readDescription(ctx), (now) =>
      expectThat(same(ctx, original, now.description), {
        value: undefined,
        detail: `description ${describeValue(now.description)}, as found`
      }, `description is ${describeValue(now.description)}, expected ${describeValue(original)}`))
  )

/** After a failure: put the original back if our marker is still there; never touch another writer's text. */
const cleanupConfig = (ctx: StepContext, original: ConfigValue | undefined, marker: string) =>
  Effect.gen(function*() {
    const now = yield* check(
      ctx,
      { task: "config", step: "cleanup: read description", cleanup: true },
      Effect.map(readDescription(ctx), (d) => {
        const detail = same(ctx, original, d.description)
          ? "as found; nothing to undo"
          : same(ctx, marker, d.description)
          ? "marker still present; restoring"
          : `changed by someone else (${describeValue(d.description)}); left as is`
        return { value: d, detail }
      })
    )
    if (!same(ctx, marker, now.description) || same(ctx, original, now.description)) return
    yield* restore(ctx, original, now.digest, true)
    yield* verifyRestored(ctx, original, true)
  }).pipe(Effect.ignore) // each failed cleanup step is already in the report

/** read → write marker (with the digest) → verify → restore (or delete) → verify. */
export const configTask = (ctx: StepContext, marker: string) =>
  Effect.gen(function*() {
    const before = yield* check(
      ctx,
      { task: "config", step: "read description" },
      Effect.map(readDescription(ctx), (d) => ({ value: d, detail: `description ${describeValue(d.description)}` }))
    )
    const original = before.description
    yield* Effect.gen(function*() {
      yield* mutate(ctx, {
        task: "config",
        step: "write marker",
        action: "selftest-config-write",
        params: { set: { description: marker }, digest: before.digest },
        preState: { description: original ?? null },
        preDigest: before.digest,
        inverse: original === undefined ? { delete: ["description"] } : { set: { description: original } },
        call: ctx.pve.setConfig(ctx.guest, {
          set: { description: marker },
          delete: [],
          digest: before.digest,
          mode: "async"
        })
      })
      const written = yield* check(
        ctx,
        { task: "config", step: "verify marker" },
        Effect.flatMap(readDescription(ctx), (d) =>
          expectThat(
            same(ctx, marker, d.description),
            { value: d, detail: "marker read back (normalized)" },
            `read back ${describeValue(d.description)}, expected the marker`
          ))
      )
      yield* restore(ctx, original, written.digest, false)
      yield* verifyRestored(ctx, original, false)
    }).pipe(Effect.onError(() => cleanupConfig(ctx, original, marker)))
  })
