// The `tidemark` process exits as soon as a command is over (src/programs/cli/exit.ts), but only once what it
// wrote to stdout and stderr is handed to the OS: a write to a pipe completes later, and exiting before it
// would cut the output short.
import { describe, expect, it } from "@effect/vitest"
import { Writable } from "node:stream"
import { exitWhenFlushed } from "../src/programs/cli/exit.js"

/** A stream whose writes complete only when `complete()` is called, in order. */
const slowStream = () => {
  const pending: Array<() => void> = []
  const written: Array<string> = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      written.push(chunk.toString())
      pending.push(callback)
    }
  })
  const complete = () => pending.shift()?.()
  return { stream, written, complete, pendingCount: () => pending.length }
}

describe("exiting once the output is written", () => {
  it("exits only after every earlier write to each stream has completed", async () => {
    const out = slowStream()
    const err = slowStream()
    out.stream.write("result\n")
    err.stream.write("tidemark: warning\n")
    const exits: Array<number> = []
    exitWhenFlushed(0, [out.stream, err.stream], (code) => exits.push(code))
    const settle = () => new Promise((resolve) => setImmediate(resolve))
    await settle()
    expect(exits).toEqual([])
    out.complete() // the result line
    await settle()
    out.complete() // the empty write behind it
    await settle()
    expect(exits).toEqual([])
    err.complete()
    await settle()
    while (err.pendingCount() > 0) err.complete()
    await settle()
    expect(exits).toEqual([0])
    expect(out.written.join("")).toBe("result\n")
  })

  it("exits at once with no streams to wait for", () => {
    const exits: Array<number> = []
    exitWhenFlushed(3, [], (code) => exits.push(code))
    expect(exits).toEqual([3])
  })
})
