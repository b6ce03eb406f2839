// Where a device keeps its data: a directory (database.db and sync.db) or memory.
export {
  client,
  type ClientStorage,
  directory,
  type DirectoryStorage,
  memory,
  type MemoryStorage,
  type Storage
} from "../layers/Engine.js"
