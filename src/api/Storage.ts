// Where a device keeps its data: a directory (database.db and sync.db), the application's SqlClient, a
// PostgreSQL schema (a hub), or memory.
export {
  client,
  describe,
  type ClientStorage,
  directory,
  type DirectoryStorage,
  memory,
  type MemoryStorage,
  postgres,
  type PostgresStorage,
  type Storage
} from "../layers/Engine.js"
