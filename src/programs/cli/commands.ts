// What each `tidemark` command does once its arguments are parsed (./app.ts parses them): open the device of
// a data directory, run one service operation, print its result. ./app.ts loads this module only when a
// command runs, so --help, --version and bad arguments do not load the engine. Each command opens the
// stores, does its work and closes them, so it can run beside a daemon on the same data directory.
import { Clock, Effect, Either, Option, Schema } from "effect"
import { hostname } from "node:os"
import * as DataDir from "../../app/DataDir.js"
import * as Generator from "../../app/Generator.js"
import * as Indexer from "../../app/Indexer.js"
import * as ReportText from "../../app/ReportText.js"
import * as Tags from "../../app/Tags.js"
import { Uuid } from "../../app/Uuid.js"
import { Device } from "../../domain/FileLibrary.js"
import { Tidemark } from "../../index.js"
import { json, out, Output } from "./output.js"

/** Bad arguments found after parsing (a malformed uuid, an empty name). Exit code 2. */
class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { reason: Schema.String }) {
  get message() {
    return this.reason
  }
}

/** `verify` found rows that differ from the peer's. Exit code 1. */
class LibrariesDiffer extends Schema.TaggedError<LibrariesDiffer>()("LibrariesDiffer", {
  reason: Schema.String
}) {
  get message() {
    return this.reason
  }
}

const parseUuid = (what: string, text: string) =>
  Either.match(Schema.decodeUnknownEither(Uuid)(text.trim().toLowerCase()), {
    onLeft: () => Effect.fail(new UsageError({ reason: `${what} "${text}" is not a uuid` })),
    onRight: Effect.succeed
  })

// ---------------------------------------------------------------------------------------------------------
// Opening a device.

/** The device of `dir` with its storage open (not serving, not syncing) for the duration of `use`. */
const withDevice = <A, E, R>(dir: string, use: (identity: DataDir.Identity) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(DataDir.load(dir), (identity) =>
    Effect.provide(use(identity), Tidemark.layerOffline(DataDir.deviceConfig(dir, identity)))
  )

/** A freshly created data directory: create both databases and this device's own `device` row. */
const registerDevice = (dir: string, identity: DataDir.Identity) =>
  withDevice(dir, () =>
    Effect.flatMap(Tidemark.Database, (db) =>
      db.write(Device, { name: identity.name, address: null }, identity.deviceId)
    )
  )

const defaultName = () => {
  const host = hostname()
  return host.length > 0 ? host : "tidemark-device"
}
const nameOr = (name: Option.Option<string>) =>
  Effect.sync(() => Option.getOrElse(name, defaultName)).pipe(
    Effect.flatMap((n) =>
      n.trim().length === 0
        ? Effect.fail(new UsageError({ reason: "--name must not be empty" }))
        : Effect.succeed(n)
    )
  )

// ---------------------------------------------------------------------------------------------------------
// Commands.

export const init = ({ dataDir, name }: { dataDir: string; name: Option.Option<string> }) =>
  Effect.gen(function* () {
    const identity = yield* DataDir.initLibrary(dataDir, yield* nameOr(name))
    yield* registerDevice(dataDir, identity)
    yield* json({
      libraryId: identity.libraryId,
      deviceId: identity.deviceId,
      joinCode: DataDir.joinCodeOf(identity)
    })
  })

export const join = ({
  code,
  dataDir,
  name
}: {
  code: string
  dataDir: string
  name: Option.Option<string>
}) =>
  Effect.gen(function* () {
    const identity = yield* DataDir.joinLibrary(dataDir, code, yield* nameOr(name))
    yield* registerDevice(dataDir, identity)
    yield* json({ libraryId: identity.libraryId, deviceId: identity.deviceId })
  })

export const generate = ({
  batchSize,
  dataDir,
  entries,
  locations,
  seed,
  tags
}: {
  batchSize: number
  dataDir: string
  entries: number
  locations: number
  seed: string
  tags: number
}) =>
  withDevice(dataDir, () =>
    Effect.gen(function* () {
      const output = yield* Output
      const started = yield* Clock.currentTimeMillis
      let reported = started
      const summary = yield* Generator.generate({
        locations,
        entries,
        tags,
        seed,
        batchSize: Math.max(1, batchSize),
        onProgress: (done, total) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            if (done < total && now - reported < 1_000) return Effect.void
            reported = now
            const rate = now > started ? Math.round((done * 1000) / (now - started)) : 0
            return total >= 50_000
              ? Effect.sync(() =>
                  output.stderr(
                    `tidemark: generate: ${done}/${total} entries (${Math.floor((done / total) * 100)}%, ${rate}/s)\n`
                  )
                )
              : Effect.void
          })
      })
      yield* json(summary)
    })
  )

export const index = ({ dataDir, path }: { dataDir: string; path: string }) =>
  withDevice(dataDir, () => Effect.flatMap(Indexer.indexFolder(path, { exclude: [dataDir] }), json))

export const tagAdd = ({ dataDir, name }: { dataDir: string; name: string }) =>
  Effect.gen(function* () {
    if (name.trim().length === 0) return yield* new UsageError({ reason: "--name must not be empty" })
    yield* withDevice(dataDir, () => Effect.flatMap(Tags.add(name), (uuid) => json({ uuid })))
  })

export const tagRename = ({ dataDir, name, uuid }: { dataDir: string; name: string; uuid: string }) =>
  Effect.gen(function* () {
    const tag = yield* parseUuid("tag", uuid)
    if (name.trim().length === 0) return yield* new UsageError({ reason: "NAME must not be empty" })
    yield* withDevice(dataDir, () => Tags.rename(tag, name))
  })

export const tagDelete = ({ dataDir, uuid }: { dataDir: string; uuid: string }) =>
  Effect.flatMap(parseUuid("tag", uuid), (tag) => withDevice(dataDir, () => Tags.remove(tag)))

export const tagAssign = ({ dataDir, entry, tag }: { dataDir: string; entry: string; tag: string }) =>
  Effect.gen(function* () {
    const t = yield* parseUuid("tag", tag)
    const e = yield* parseUuid("entry", entry)
    yield* withDevice(dataDir, () => Effect.flatMap(Tags.assign(t, e), (uuid) => json({ uuid })))
  })

export const dump = ({ dataDir }: { dataDir: string }) =>
  withDevice(dataDir, () =>
    Effect.gen(function* () {
      const lines = yield* Effect.flatMap(Tidemark.Database, (db) => db.dump)
      for (let start = 0; start < lines.length; start += 10_000) {
        yield* out(lines.slice(start, start + 10_000).join("\n"))
      }
    })
  )

export const status = ({ dataDir, json: asJson }: { dataDir: string; json: boolean }) =>
  withDevice(dataDir, () =>
    Effect.gen(function* () {
      const report = yield* Effect.flatMap(Tidemark.Replica, (r) => r.status)
      if (asJson) return yield* json(report)
      yield* out(ReportText.formatStatus(report, yield* Clock.currentTimeMillis))
    })
  )

export const inspect = ({ dataDir, json: asJson }: { dataDir: string; json: boolean }) =>
  withDevice(dataDir, () =>
    Effect.gen(function* () {
      const inspection = yield* Effect.flatMap(Tidemark.Replica, (r) => r.inspect)
      yield* asJson ? json(inspection) : out(ReportText.formatInspection(inspection))
    })
  )

export const verify = ({
  dataDir,
  json: asJson,
  peer,
  repair
}: {
  dataDir: string
  json: boolean
  peer: string
  repair: boolean
}) =>
  withDevice(dataDir, () =>
    Effect.gen(function* () {
      const verification = yield* Effect.flatMap(Tidemark.Replica, (r) => r.verify(peer, { repair }))
      const kinds = verification.kinds.map(({ kind, ...k }) => ({ resource: kind, ...k }))
      const differing = kinds.filter((k) => !k.same)
      if (asJson) {
        yield* json({ peer: verification.peer, address: peer, same: differing.length === 0, kinds })
      } else {
        for (const k of kinds) {
          yield* out(
            k.same
              ? `${k.resource}: same (${k.peerRows} rows on the peer)`
              : `${k.resource}: ${k.differingRanges} range(s) differ` +
                  (repair ? `, ${k.pulled} row(s) pulled, ${k.repaired} repaired in place` : "")
          )
          if (!k.same) yield* out(ReportText.formatDifferences(k, repair))
        }
      }
      if (differing.length > 0 && !repair) {
        return yield* new LibrariesDiffer({
          reason: `${differing.map((k) => k.resource).join(", ")} differ from ${peer} (run again with --repair to pull them)`
        })
      }
    })
  )
