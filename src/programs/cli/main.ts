// The `tidemark` bin's work (../cli.ts loads it): runs the command-line tool (./app.ts) against this
// process's arguments and streams and exits with its code. Ctrl-C interrupts the running command (its
// stores close cleanly) and exits 130.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Schema } from "effect"
import { Output, run } from "./app.js"
import { exitWhenFlushed } from "./exit.js"

class ExitCode extends Schema.TaggedError<ExitCode>()("ExitCode", { code: Schema.Number }) {}

const main = run(process.argv).pipe(
  Effect.flatMap((code) => (code === 0 ? Effect.void : Effect.fail(new ExitCode({ code })))),
  Effect.provide(Output.layerProcess)
)

NodeRuntime.runMain(main, {
  disableErrorReporting: true,
  // The command is over (its stores closed, its output written): exit now rather than when the event loop
  // drains, which waits for V8's background work (garbage collection, optimising compiles) to finish,
  // tens of milliseconds of a command's start-up (docs/architecture.md, "Start-up").
  teardown: (exit, onExit) => {
    if (exit._tag === "Success") return exitWhenFlushed(0)
    const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
    onExit(failure instanceof ExitCode ? failure.code : 130)
  }
})
