// The baseline of the backfill benchmark: a plain pipeline with no sync logic. `send` reads the entry rows
// of a database.db in keyset pages and writes them as length-prefixed msgpack frames to a TCP socket;
// `receive` listens, decodes and upserts each page into its own SQLite file in one transaction.
//   node dist/programs/bench/pipeline.js receive DB PORT   (prints "ready" when listening; exits when done)
//   node dist/programs/bench/pipeline.js send DB PORT PAGE
import Database from "better-sqlite3"
import { Packr, Unpackr } from "msgpackr"
import { createConnection, createServer } from "node:net"
import { tableDdl } from "../../layers/LibraryDbSchema.js"

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

const receive = (dbFile: string, port: number) => {
  const db = new Database(dbFile)
  db.pragma("journal_mode = WAL")
  db.exec(tableDdl("entry"))
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
    let buffer = Buffer.alloc(0)
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk])
      while (buffer.length >= 4 && buffer.length >= 4 + buffer.readUInt32BE(0)) {
        const length = buffer.readUInt32BE(0)
        applyPage(unpackr.unpack(buffer.subarray(4, 4 + length)) as Array<Entry>)
        buffer = buffer.subarray(4 + length)
      }
    })
    socket.on("end", () => {
      db.close()
      server.close()
    })
  })
  server.listen(port, "127.0.0.1", () => console.log("ready"))
}

const [role, db, port, page] = process.argv.slice(2)
if (role === "send") send(db!, Number(port), Number(page ?? 10_000))
else if (role === "receive") receive(db!, Number(port))
else {
  console.error("usage: pipeline.js receive DB PORT | send DB PORT [PAGE]")
  process.exit(2)
}
