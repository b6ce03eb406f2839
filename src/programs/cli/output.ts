// The command-line tool's output: results on stdout, everything else on stderr. Its own module because both
// the argument parsing (./app.ts) and the commands' work (./commands.ts) write through it.
import { Context, Effect, Layer } from "effect"

export class Output extends Context.Tag("tidemark/cli/Output")<
  Output,
  {
    /** Write to stdout; completes when the text is handed to the OS (so large dumps are not cut short). */
    readonly stdout: (text: string) => Effect.Effect<void>
    readonly stderr: (text: string) => void
  }
>() {
  /** The process's own streams. */
  static readonly layerProcess = Layer.succeed(Output, {
    stdout: (text) =>
      Effect.async<void>((resume) => {
        process.stdout.write(text, () => resume(Effect.void))
      }),
    stderr: (text) => {
      process.stderr.write(text)
    }
  })
}

/** A line on stdout. */
export const out = (text: string) => Effect.flatMap(Output, (o) => o.stdout(text + "\n"))
/** One JSON line on stdout. */
export const json = (value: unknown) => out(JSON.stringify(value))
/** A `tidemark: ` line on stderr. */
export const info = (text: string) =>
  Effect.flatMap(Output, (o) => Effect.sync(() => o.stderr(`tidemark: ${text}\n`)))
