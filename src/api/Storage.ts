// Where a device keeps its data: a directory (database.db and sync.db) or memory.
export { directory, memory, type Storage } from "../layers/Engine.js"
