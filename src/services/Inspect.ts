// What `inspect` shows: the coordination state in sync.db for troubleshooting (watermarks, backfill
// checkpoints, the shared log's size and range, peer acknowledgements, the clock's persisted high-water
// mark) and the size of each table in database.db. Read-only: inspecting never changes a cursor.
import { Context, Effect } from "effect"
import type { StoreError } from "../domain/Errors.js"
import type { DeviceId, LibraryId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import { Kinds } from "./Kinds.js"
import { type Checkpoint, CheckpointStore } from "./CheckpointStore.js"
import { LibraryStore } from "./LibraryStore.js"
import { LocalDevice } from "./LocalDevice.js"
import { type LogBounds, SharedLog } from "./SharedLog.js"
import { type Watermark, WatermarkStore } from "./WatermarkStore.js"

/** The clock's persisted state. */
export class ClockState extends Context.Tag("tidemark/ClockState")<
  ClockState,
  {
    /** Wall milliseconds no timestamp this device issued exceeds (0 before the first one). */
    readonly highWaterMillis: Effect.Effect<number, StoreError>
  }
>() {}

/** Unapplied shared-log entries are counted up to this many. */
const UNAPPLIED_CAP = 10_000

/** What a device's coordination store holds (see `make`). */
export interface Inspection {
  readonly deviceId: DeviceId
  readonly libraryId: LibraryId
  readonly watermarks: ReadonlyArray<Watermark>
  readonly checkpoints: ReadonlyArray<Checkpoint>
  readonly sharedLog: LogBounds & {
    /** Entries logged but not yet marked applied to database.db (counted up to 10,000). */
    readonly unapplied: number
  }
  readonly acks: ReadonlyArray<{ readonly peer: DeviceId; readonly seq: number }>
  readonly hlc: { readonly highWaterMillis: number; readonly highWater: string | null }
  /** Rows per kind in database.db (tombstones included) and the highest local seq of each kind. */
  readonly library: ReadonlyArray<{
    readonly resource: ResourceType
    readonly rows: number
    readonly lastSeq: number
  }>
}

export const make = Effect.gen(function* () {
  const { deviceId, libraryId } = yield* LocalDevice
  const watermarks = yield* Effect.flatMap(WatermarkStore, (s) => s.list)
  const checkpoints = yield* Effect.flatMap(CheckpointStore, (s) => s.list)
  const log = yield* SharedLog
  const bounds = yield* log.bounds
  const unapplied = yield* Effect.map(log.unapplied(UNAPPLIED_CAP), (es) => es.length)
  const acks = yield* log.acks
  const highWaterMillis = yield* Effect.flatMap(ClockState, (c) => c.highWaterMillis)
  const store = yield* LibraryStore
  const library = yield* Effect.forEach((yield* Kinds).names, (resource) =>
    Effect.all({ rows: store.countAfter(resource, 0), lastSeq: store.lastSeq(resource) }).pipe(
      Effect.map(({ rows, lastSeq }) => ({ resource, rows, lastSeq }))
    )
  )
  return {
    deviceId,
    libraryId,
    watermarks,
    checkpoints,
    sharedLog: { ...bounds, unapplied },
    acks: [...acks.entries()]
      .map(([peer, seq]) => ({ peer, seq }))
      .sort((a, b) => (a.peer < b.peer ? -1 : 1)),
    hlc: {
      highWaterMillis,
      highWater: highWaterMillis > 0 ? new Date(highWaterMillis).toISOString() : null
    },
    library
  } satisfies Inspection
})
