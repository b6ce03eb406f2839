// Ending the `tidemark` process once a command is over. Writes to a pipe are asynchronous in Node, so
// `process.exit` right after one could cut it short; this waits until what was written to stdout and stderr
// is handed to the OS (a stream runs its writes in order, so an empty write's callback comes after them).
import type { Writable } from "node:stream"

/** Exit with `code` once everything written to `streams` so far is handed to the OS. */
export const exitWhenFlushed = (
  code: number,
  streams: ReadonlyArray<Writable> = [process.stdout, process.stderr],
  exit: (code: number) => void = (c) => process.exit(c)
): void => {
  let pending = streams.length
  const done = () => {
    pending -= 1
    if (pending === 0) exit(code)
  }
  if (pending === 0) return exit(code)
  for (const stream of streams) stream.write("", done)
}
