// The baseline of the backfill benchmark: a plain pipeline with no sync logic. `send` reads the entry rows
// of a database.db in keyset pages and writes them as length-prefixed msgpack frames to a TCP socket;
// `receive` listens, decodes and upserts each page into its own SQLite file in one transaction, with SQLite's
// default pragmas, or with `tuned` the ones Tidemark opens database.db with (NORMAL sync, its page cache).
//   node dist/programs/bench/pipeline.js receive DB PORT [tuned]   (prints "ready"; exits when done)
//   node dist/programs/bench/pipeline.js send DB PORT PAGE
import Database from "better-sqlite3"
import { Packr, Unpackr } from "msgpackr"
import { createConnection, createServer } from "node:net"

type Entry = Record<string, unknown>
const packr = new Packr({ useRecords: true })
const unpackr = new Unpackr({ useRecords: true })

const columns = [
  "seq",
  "uuid",
  "version",
  "deleted",
  "owner",
  "location",
  "parent",
  "name",
  "kind",
  "size",
  "modified_at",
  "content_hash"
]

const send = (dbFile: string, port: number, page: number) => {
  const db = new Database(dbFile, { readonly: true })
  const read = db.prepare(`SELECT ${columns.join(", ")} FROM entry WHERE seq > ? ORDER BY seq LIMIT ?`)
  const socket = createConnection({ port, host: "127.0.0.1" }, () => {
    let after = 0
    const next = () => {
      const rows = read.all(after, page) as Array<Entry>
      if (rows.length === 0) {
        socket.end()
        return
      }
      after = rows.at(-1)!.seq as number
      const body = packr.pack(rows)
      const header = Buffer.alloc(4)
      header.writeUInt32BE(body.length)
      if (socket.write(Buffer.concat([header, body]))) setImmediate(next)
      else socket.once("drain", next)
    }
    next()
  })
}

const receive = async (dbFile: string, port: number, tuned: boolean) => {
  // Imported here, not at the top: they load Effect, and the sender's start-up is part of the timed run.
  const { tableDdl, uuidIndexDdl } = await import("../../layers/LibraryDbSchema.js")
  const { FileLibraryCatalog } = await import("../../domain/FileLibrary.js")
  const { LIBRARY_CACHE_MIB, tuningPragmas } = await import("../../layers/Sqlite.js")
  const db = new Database(dbFile)
  db.pragma("journal_mode = WAL")
  if (tuned) for (const pragma of tuningPragmas(LIBRARY_CACHE_MIB)) db.exec(pragma)
  db.exec(tableDdl(FileLibraryCatalog.kind("entry")))
  db.exec(uuidIndexDdl("entry"))
  const upsert = db.prepare(
    `INSERT INTO entry (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})
     ON CONFLICT(uuid) DO UPDATE SET ${columns
       .filter((c) => c !== "uuid")
       .map((c) => `${c} = excluded.${c}`)
       .join(", ")}
     WHERE excluded.version > entry.version`
  )
  const applyPage = db.transaction((rows: Array<Entry>) => {
    for (const r of rows) upsert.run(...columns.map((c) => r[c] ?? null))
  })
  const server = createServer((socket) => {
    // The chunks of the frame being received, joined once it is whole.
    let chunks: Array<Buffer> = []
    let held = 0
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk)
      held += chunk.length
      while (held >= 4) {
        if (chunks[0]!.length < 4) chunks = [Buffer.concat(chunks)]
        const frame = 4 + chunks[0]!.readUInt32BE(0)
        if (held < frame) return
        const buffer = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
        applyPage(unpackr.unpack(buffer.subarray(4, frame)) as Array<Entry>)
        const rest = buffer.subarray(frame)
        chunks = rest.length > 0 ? [rest] : []
        held = rest.length
      }
    })
    socket.on("end", () => {
      db.close()
      server.close()
    })
  })
  server.listen(port, "127.0.0.1", () => console.log("ready"))
}

const [role, db, port, option] = process.argv.slice(2)
if (role === "send") send(db!, Number(port), Number(option ?? 10_000))
else if (role === "receive") void receive(db!, Number(port), option === "tuned")
else {
  console.error("usage: pipeline.js receive DB PORT [tuned] | send DB PORT [PAGE]")
  process.exit(2)
}
