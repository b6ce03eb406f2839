// The store contract suites against the hub's PostgreSQL layers: each test gets a fresh schema of one test
// server, wired as Device.layerPostgres wires them.
import { Layer } from "effect"
import * as CheckpointStorePg from "../src/layers/CheckpointStorePg.js"
import * as Postgres from "../src/layers/Postgres.js"
import * as SharedLogPg from "../src/layers/SharedLogPg.js"
import * as WatermarkStorePg from "../src/layers/WatermarkStorePg.js"
import { FileLibraryCatalog } from "../src/domain/FileLibrary.js"
import { Kinds } from "../src/services/Kinds.js"
import { LocalDevice } from "../src/services/LocalDevice.js"
import { checkpointStoreContract } from "./contract/CheckpointStoreContract.js"
import { sharedLogContract } from "./contract/SharedLogContract.js"
import { watermarkStoreContract } from "./contract/WatermarkStoreContract.js"
import { deviceA, libraryId } from "./support/fixtures.js"
import { describePostgres, freshSchema, serverForFile } from "./support/postgres.js"

describePostgres("store contracts on PostgreSQL", () => {
  const server = serverForFile()
  const pg = () =>
    Layer.mergeAll(WatermarkStorePg.layer, CheckpointStorePg.layer, SharedLogPg.layer).pipe(
      Layer.provide(
        Layer.merge(
          Postgres.layer({ url: server.url(), schema: freshSchema() }).pipe(
            Layer.provide(Layer.succeed(Kinds, FileLibraryCatalog))
          ),
          LocalDevice.layer(deviceA, libraryId)
        )
      )
    )
  watermarkStoreContract("postgres", pg)
  checkpointStoreContract("postgres", pg)
  sharedLogContract("postgres", pg)
})
