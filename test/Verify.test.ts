import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Uuid } from "../src/domain/Ids.js"
import * as DataDir from "../src/app/DataDir.js"
import * as Device from "../src/layers/Device.js"
import { Library } from "../src/services/Library.js"
import { PeerTransport } from "../src/services/PeerTransport.js"
import * as SyncServer from "../src/services/SyncServer.js"
import Database from "better-sqlite3"
import * as Fingerprint from "../src/domain/Fingerprint.js"
import { FileLibraryCatalog } from "../src/domain/FileLibrary.js"
import { cliJson, dumpOf, runCli } from "./support/cli.js"
import { entryFields, uuidN } from "./support/fixtures.js"
import { tempDir } from "./support/tempDir.js"
import { join } from "node:path"

/** A device of the library serving peers over TCP from this process, until the scope closes. */
const servePeer = (dir: string, identity: DataDir.Identity) =>
  Effect.gen(function* () {
    const ctx = yield* Layer.build(Device.layerDataDir(dir, identity))
    const handler = yield* Effect.provide(SyncServer.makeHandler(), ctx)
    const address = yield* Effect.provide(
      Effect.flatMap(PeerTransport, (t) => t.listen("127.0.0.1:0", handler)),
      ctx
    )
    return { ctx, address }
  })

const writeEntries = (dir: string, identity: DataDir.Identity, from: number, count: number) =>
  Effect.flatMap(Library, (l) =>
    l.write(
      "entry",
      Array.from({ length: count }, (_, i) => ({
        uuid: uuidN(from + i),
        fields: entryFields(from + i, Uuid.make(uuidN(1)))
      }))
    )
  ).pipe(Effect.provide(Device.layerSqlite(dir, identity)))

/** Edit a device's database.db by hand, as a person with the sqlite3 shell would: no version changes. */
const handEdit = (dir: string, statement: string, params: ReadonlyArray<string>) => {
  const db = new Database(join(dir, "database.db"))
  try {
    expect(db.prepare(statement).run(...params).changes).toBe(1)
  } finally {
    db.close()
  }
}

interface VerifyJson {
  readonly same: boolean
  readonly kinds: ReadonlyArray<{
    readonly resource: string
    readonly same: boolean
    readonly repaired: number
    readonly rows: ReadonlyArray<{ uuid: string; difference: string; takePeers: boolean }>
  }>
}

const kindOf = (v: VerifyJson, resource: string) => v.kinds.find((k) => k.resource === resource)!

/** The contents digest of a tag named `name` (color null), as verify's repair compares them. */
const tagDigest = (name: string) =>
  Fingerprint.digest(
    Fingerprint.contents(FileLibraryCatalog.kind("tag").columns).ofRow({
      deleted: false,
      owner: null,
      fields: { name, color: null }
    })
  )

describe("tidemark verify", () => {
  it.scopedLive("reports the kinds that differ from a peer, repairs them, and then finds them the same", () =>
    Effect.gen(function* () {
      const root = yield* tempDir("tidemark-verify-")
      const a = yield* DataDir.initLibrary(join(root, "a"), "a")
      yield* DataDir.joinLibrary(join(root, "b"), DataDir.joinCodeOf(a), "b")
      yield* writeEntries(join(root, "a"), a, 1, 500)
      const peer = yield* servePeer(join(root, "a"), a)

      const before = yield* runCli(["verify", "--data-dir", join(root, "b"), "--peer", peer.address])
      expect(before.code).toBe(1)
      expect(before.stdout).toContain("entry: ")
      expect(before.stdout).toContain("range(s) differ")
      expect(before.stderr).toContain("entry differ from")

      const repaired = yield* cliJson<{
        same: boolean
        kinds: ReadonlyArray<{ resource: string; pulled: number }>
      }>(["verify", "--data-dir", join(root, "b"), "--peer", peer.address, "--repair", "--json"])
      expect(repaired.kinds.find((k) => k.resource === "entry")?.pulled).toBe(500)

      const after = yield* cliJson<{ same: boolean }>([
        "verify",
        "--data-dir",
        join(root, "b"),
        "--peer",
        peer.address,
        "--json"
      ])
      expect(after.same).toBe(true)
    })
  )

  it.scopedLive("a peer that does not answer is one clear error line", () =>
    Effect.gen(function* () {
      const root = yield* tempDir("tidemark-verify-")
      yield* DataDir.initLibrary(join(root, "a"), "a")
      const r = yield* runCli(["verify", "--data-dir", join(root, "a"), "--peer", "127.0.0.1:1"])
      expect(r.code).toBe(1)
      expect(r.stderr.trim().split("\n")).toHaveLength(1)
      expect(r.stderr).toContain("unavailable")
    })
  )

  it.scopedLive(
    "a row renamed by hand in database.db at the same version is reported, and --repair takes the copy to keep",
    () =>
      Effect.gen(function* () {
        const root = yield* tempDir("tidemark-verify-")
        const [dirA, dirB] = [join(root, "a"), join(root, "b")]
        // Through the CLI, so that each device holds its own device row.
        const { joinCode } = yield* cliJson<{ joinCode: string }>(["init", "--data-dir", dirA, "--name", "a"])
        yield* cliJson(["join", "--data-dir", dirB, "--code", joinCode, "--name", "b"])
        const a = yield* DataDir.load(dirA)
        const b = yield* DataDir.load(dirB)
        const { uuid: tag } = yield* cliJson<{ uuid: string }>([
          "tag",
          "add",
          "--data-dir",
          dirA,
          "--name",
          "red"
        ])
        const peer = yield* servePeer(dirA, a)
        const verify = (dir: string, ...more: ReadonlyArray<string>) =>
          runCli(["verify", "--data-dir", dir, "--peer", peer.address, ...more])
        const peerB = yield* servePeer(dirB, b)
        // Each pulls what the other holds, so both hold the same rows.
        yield* cliJson(["verify", "--data-dir", dirB, "--peer", peer.address, "--repair", "--json"])
        yield* cliJson(["verify", "--data-dir", dirA, "--peer", peerB.address, "--repair", "--json"])
        expect(
          (yield* cliJson<VerifyJson>(["verify", "--data-dir", dirB, "--peer", peer.address, "--json"])).same
        ).toBe(true)

        // On B, by hand: the shared tag renamed (to a name whose digest is below the original's, so the
        // deterministic choice is A's copy) and A's device row renamed (A owns it: A's copy is kept).
        const edited = ["blue", "green", "black", "white", "pink", "grey"].find(
          (n) => tagDigest(n) < tagDigest("red")
        )!
        handEdit(dirB, `UPDATE tag SET name = ? WHERE uuid = ?`, [edited, tag])
        handEdit(dirB, `UPDATE device SET name = ? WHERE uuid = ?`, ["mallory", a.deviceId])

        const found = yield* verify(dirB, "--json")
        expect(found.code).toBe(1)
        const report = JSON.parse(found.stdout) as VerifyJson
        expect(kindOf(report, "tag").rows).toEqual([
          { uuid: tag, difference: "contents differ", takePeers: true }
        ])
        expect(kindOf(report, "device").rows).toEqual([
          { uuid: a.deviceId, difference: "contents differ", takePeers: true }
        ])
        expect(kindOf(report, "entry").same).toBe(true)
        const text = yield* verify(dirB)
        expect(text.stdout).toContain(`${tag}: contents differ (--repair takes the peer's copy)`)
        expect(text.stderr).toContain("tag")

        const repaired = yield* cliJson<VerifyJson>([
          "verify",
          "--data-dir",
          dirB,
          "--peer",
          peer.address,
          "--repair",
          "--json"
        ])
        expect(kindOf(repaired, "tag").repaired).toBe(1)
        expect(kindOf(repaired, "device").repaired).toBe(1)
        expect(
          (yield* cliJson<VerifyJson>(["verify", "--data-dir", dirB, "--peer", peer.address, "--json"])).same
        ).toBe(true)
        const dump = yield* dumpOf(dirB)
        expect(dump.find((r) => r.uuid === tag)).toMatchObject({ name: "red" })
        expect(dump.find((r) => r.uuid === a.deviceId)).toMatchObject({ name: "a" })

        // A's device row renamed in B's copy again, and A verifies against B: A owns the row, so A's repair
        // keeps its own copy and says so.
        handEdit(dirB, `UPDATE device SET name = ? WHERE uuid = ?`, ["mallory", a.deviceId])
        const fromA = yield* runCli(["verify", "--data-dir", dirA, "--peer", peerB.address, "--json"])
        expect(kindOf(JSON.parse(fromA.stdout) as VerifyJson, "device").rows).toEqual([
          { uuid: a.deviceId, difference: "contents differ", takePeers: false }
        ])
        const textA = yield* runCli(["verify", "--data-dir", dirA, "--peer", peerB.address])
        expect(textA.stdout).toContain(`${a.deviceId}: contents differ (--repair keeps ours)`)
      })
  )
})
