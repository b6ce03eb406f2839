import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Uuid } from "../src/domain/Ids.js"
import * as DataDir from "../src/app/DataDir.js"
import * as Device from "../src/layers/Device.js"
import { Library } from "../src/services/Library.js"
import { PeerTransport } from "../src/services/PeerTransport.js"
import * as SyncServer from "../src/services/SyncServer.js"
import { cliJson, runCli } from "./support/cli.js"
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
})
