// A device's own writes, whatever store holds them: check the fields against the kind's Schema, stamp each row
// with the next version of the device's clock, and write the batch in one transaction. Another process of the
// same device (a CLI beside the daemon, another process of a hub) may have stamped a newer version of one of
// the rows in between; then the batch is rolled back, the clock moves past that version and the batch is
// stamped again, so the newest local write still wins and a version is never issued twice.
import { Effect, Either, Option } from "effect"
import type { Catalog } from "../domain/Catalog.js"
import { type InvalidRowError, NotOwnerError, StoreError } from "../domain/Errors.js"
import * as Hlc from "../domain/Hlc.js"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import type { Row, StoredRow } from "../domain/Row.js"
import type { HlcClock } from "./HlcClock.js"
import type { LocalWrite } from "./LibraryStore.js"

/** How many times a batch is stamped again before the write fails. */
const MAX_WRITE_ATTEMPTS = 5

/** A stamped row that lost to the row stored under its uuid (or whose write changed nothing). */
export interface LostRow {
  readonly row: Row
  readonly stored: Option.Option<StoredRow>
}

/** What one transaction of stamped rows did: all written, or none (rolled back) and the rows that lost. */
export interface Outcome {
  readonly written: ReadonlyArray<StoredRow>
  readonly lost: ReadonlyArray<LostRow>
}

/** `LibraryStore.writeLocal` from a store's transaction that writes stamped rows of one kind. */
export const make = (deps: {
  /** The store's name in errors ("database.db", "postgres"). */
  readonly store: string
  readonly catalog: Catalog
  readonly deviceId: DeviceId
  readonly clock: HlcClock["Type"]
  readonly writeStamped: (
    resource: ResourceType,
    rows: ReadonlyArray<Row>
  ) => Effect.Effect<Outcome, StoreError>
}) => {
  const { catalog, clock, deviceId, store } = deps

  const stampAndWrite = (
    resource: ResourceType,
    writes: ReadonlyArray<LocalWrite>,
    fields: ReadonlyArray<Record<string, unknown>>
  ) =>
    Effect.gen(function* () {
      const owner = catalog.isShared(resource) ? null : deviceId
      const versions = yield* clock.nowBatch(writes.length)
      const rows = writes.map((w, i): Row => ({
        uuid: w.uuid,
        version: Hlc.toHlcString(versions[i]!),
        deleted: w.deleted ?? false,
        owner,
        fields: fields[i]!
      }))
      return yield* deps.writeStamped(resource, rows)
    })

  /** Move the clock past the version a lost row met, or fail when that row belongs to another device. */
  const catchUpWith = (resource: ResourceType, { row, stored }: LostRow) =>
    Effect.gen(function* () {
      if (Option.isNone(stored)) return
      if (stored.value.owner !== row.owner) {
        return yield* new NotOwnerError({
          resource,
          uuid: row.uuid,
          owner: stored.value.owner ?? "(shared)",
          device: deviceId
        })
      }
      const parsed = Hlc.parse(stored.value.version)
      if (Either.isRight(parsed)) {
        yield* clock
          .receive(parsed.right)
          .pipe(
            Effect.catchTag("ClockDriftError", (e) =>
              Effect.fail(new StoreError({ store, operation: "write", reason: e.message }))
            )
          )
      }
    })

  return (
    resource: ResourceType,
    writes: ReadonlyArray<LocalWrite>
  ): Effect.Effect<ReadonlyArray<StoredRow>, InvalidRowError | NotOwnerError | StoreError> =>
    Effect.gen(function* () {
      if (writes.length === 0) return []
      const fields: Array<Record<string, unknown>> = []
      for (const w of writes) {
        const decoded = catalog.kind(resource).decodeFields(w.uuid, w.fields)
        if (Either.isLeft(decoded)) return yield* decoded.left
        fields.push(decoded.right)
      }
      for (let attempt = 1; ; attempt++) {
        const { written, lost } = yield* stampAndWrite(resource, writes, fields)
        if (lost.length === 0) return written
        if (attempt === MAX_WRITE_ATTEMPTS) {
          return yield* new StoreError({
            store,
            operation: "write",
            reason: `${lost.length} row(s) kept losing to newer stored versions`
          })
        }
        yield* Effect.forEach(lost, (l) => catchUpWith(resource, l), { discard: true })
      }
    })
}
