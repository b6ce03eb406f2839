// How a simulated device brings its two held databases to their schema at each start, as the product's open
// does (`Sqlite.open`, `LibraryDbSchema.layer`): the migrations run only when the file records fewer than the
// latest (read from the file itself, outside the device's client), and the kind tables are brought to the
// catalog only when they are not in place. Keeps: a device starts on exactly the database the product's open
// would leave, and every statement the product's open runs through its client passes the crash gate.
//
// One shortcut, for speed: a database that is still empty, opened while no crash is armed, is given a copy of
// a database the same migrations made once per process (better-sqlite3's `serialize`), with a new random
// store id as the migration would draw, instead of running them again. Nothing can strike between those
// statements (no crash is armed, and they run before the device can be seen by anyone), so only the gate's
// count of statements would differ, and it is moved by as many as they are.
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import type { Catalog } from "../domain/Catalog.js"
import {
  kindsInPlace,
  libraryMigrations,
  migrationsTable,
  storeIdentityTable,
  syncKinds
} from "../layers/LibraryDbSchema.js"
import { latestMigrationId } from "../layers/Sqlite.js"
import { syncMigrations } from "../layers/SyncDbSchema.js"
import * as Runtime from "./Runtime.js"
import * as SimSqlite from "./SimSqlite.js"

const NAMES = { prefix: "" }
const LIBRARY_TABLE = migrationsTable(NAMES)
const SYNC_TABLE = "tidemark_migrations"

/** The highest migration id `held` records in `table` (0 when it has none), read as the product's probe does. */
export const applied = (held: SimSqlite.HeldDatabase, table: string): number => {
  const exists = held.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table)
  if (exists === undefined) return 0
  const row = held.db.prepare(`SELECT max(migration_id) AS id FROM "${table}"`).get() as { id: number | null }
  return row.id ?? 0
}

const isEmpty = (held: SimSqlite.HeldDatabase): boolean =>
  (held.db.prepare("SELECT count(*) AS n FROM sqlite_master").get() as { n: number }).n === 0

/** database.db's open: the migrations when behind, then the kind tables when not in place. */
export const openLibrary = (client: SqlClient.SqlClient, held: SimSqlite.HeldDatabase, catalog: Catalog) =>
  Effect.gen(function* () {
    if (applied(held, LIBRARY_TABLE) < latestMigrationId(libraryMigrations(NAMES)))
      yield* Migrator.make({})({
        loader: Migrator.fromRecord(libraryMigrations(NAMES)),
        table: LIBRARY_TABLE
      })
    if (!(yield* kindsInPlace(catalog, NAMES))) yield* syncKinds(catalog, NAMES)
  }).pipe(Effect.provideService(SqlClient.SqlClient, client))

/** sync.db's open: the migrations when behind. */
export const openSync = (client: SqlClient.SqlClient, held: SimSqlite.HeldDatabase) =>
  Effect.gen(function* () {
    if (applied(held, SYNC_TABLE) < latestMigrationId(syncMigrations))
      yield* Migrator.make({})({ loader: Migrator.fromRecord(syncMigrations), table: SYNC_TABLE })
  }).pipe(Effect.provideService(SqlClient.SqlClient, client))

/** Both databases as a new device's open leaves them, and how many statements that open ran on each. */
export interface Images {
  readonly library: Buffer
  readonly sync: Buffer
  readonly libraryStatements: number
  readonly syncStatements: number
}

const made = new Map<Catalog, Promise<Images>>()

/**
 * The images of `catalog`'s two new databases, made once per process by the opens above on empty databases,
 * on a runtime of their own (so that making them changes nothing of the seed that first asks).
 */
export const images = (catalog: Catalog): Promise<Images> => {
  let images = made.get(catalog)
  if (images === undefined) {
    images = makeImages(catalog)
    made.set(catalog, images)
  }
  return images
}

const makeImages = async (catalog: Catalog): Promise<Images> => {
  const library = new SimSqlite.HeldDatabase()
  const sync = new SimSqlite.HeldDatabase()
  const counted = { library: 0, sync: 0 }
  const result = await Runtime.run(
    Effect.gen(function* () {
      yield* openLibrary(
        yield* SimSqlite.make(library, { pass: () => (counted.library++, true) }),
        library,
        catalog
      )
      yield* openSync(yield* SimSqlite.make(sync, { pass: () => (counted.sync++, true) }), sync)
    }).pipe(Effect.withTracerEnabled(false)),
    0
  )
  if (result.exit._tag === "Failure") throw new Error(`the migrations failed: ${String(result.exit.cause)}`)
  const images = {
    library: library.db.serialize(),
    sync: sync.db.serialize(),
    libraryStatements: counted.library,
    syncStatements: counted.sync
  }
  library.close()
  sync.close()
  return images
}

/**
 * Open both of a device's databases. When both are empty and nothing is armed to crash the device, they are
 * the images (`library` with a store id of its own), and the gate is told of the statements they stand for;
 * otherwise the opens above run through the gate.
 */
export const open = (
  held: { readonly library: SimSqlite.HeldDatabase; readonly sync: SimSqlite.HeldDatabase },
  clients: { readonly library: SqlClient.SqlClient; readonly sync: SqlClient.SqlClient },
  catalog: Catalog,
  shortcut: { readonly images: Images; readonly armed: boolean; readonly skip: (statements: number) => void }
) =>
  Effect.suspend(() => {
    const { images } = shortcut
    if (!shortcut.armed && isEmpty(held.library) && isEmpty(held.sync)) {
      held.library.load(images.library)
      held.library.db
        .prepare(`UPDATE ${storeIdentityTable(NAMES)} SET store_id = ? WHERE id = 1`)
        .run(randomUUID())
      held.sync.load(images.sync)
      shortcut.skip(images.libraryStatements + images.syncStatements)
      return Effect.void
    }
    return Effect.zipRight(
      openLibrary(clients.library, held.library, catalog),
      openSync(clients.sync, held.sync)
    )
  })
