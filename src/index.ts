// Tidemark: a sync engine for Effect applications. Declare resource kinds with effect Schema, run a device as
// one Layer, write and read typed rows, and watch changes arrive from every other device of the library.
//
//   const Note = Resource.owned("note", { title: Schema.String, done: Schema.Boolean })
//   const App = Tidemark.schema(Note)
//   Effect.provide(program, Tidemark.layer({ schema: App, library, device, storage: Storage.directory(dir), listen }))

/** Run a device (`layer`), use its data (`Database`), observe it (`Engine`). */
export * as Tidemark from "./api/Tidemark.js"
/** Declare device-owned and shared resource kinds. */
export * as Resource from "./api/Resource.js"
/** Where a device keeps its data. */
export * as Storage from "./api/Storage.js"
/** How devices reach each other: TCP with TLS, or an in-process network. */
export * as Transport from "./api/Transport.js"
/** The typed errors of the engine. */
export * as Errors from "./api/Errors.js"
/** The services an application may replace with its own Layers. */
export * as Services from "./api/Services.js"
