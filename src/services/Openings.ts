// The openings of a store: every serving process records one (a random id) in the file whose seqs it hands
// out to peers, with the highest position it has vouched for under that id (`served`). A peer remembers the
// opening it last exchanged with; the server then tells a position of the file's own history from one of a
// history that is gone (the file was restored from an older backup). Keeps: a position is sent to a peer
// only after `served` covers it and is committed, and `served` is never above what the file has committed,
// so a backup holds each opening's `served` at or below the backup's own end.
import type { Effect, Option } from "effect"
import type { StoreError } from "../domain/Errors.js"

/** The openings of one store's seq counter (the tables of database.db, or the shared log of sync.db). */
export interface Openings {
  /** Record opening `id`, its `served` set to the store's committed end now. */
  readonly open: (id: string) => Effect.Effect<void, StoreError>
  /** The highest position vouched for under `id`; none when this file never had that opening. */
  readonly served: (id: string) => Effect.Effect<Option.Option<number>, StoreError>
  /** Raise `id`'s `served` to the store's committed end now and commit it; returns the new value. */
  readonly vouch: (id: string) => Effect.Effect<number, StoreError>
}
