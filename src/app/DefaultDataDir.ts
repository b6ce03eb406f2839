// Where a device's data directory is when none is given. Its own module so that the CLI can show it in its
// help without loading the engine (DataDir.ts imports it).
import { homedir } from "node:os"
import { join } from "node:path"

/** TIDEMARK_DATA_DIR, else $XDG_DATA_HOME/tidemark, else ~/.local/share/tidemark. */
export const defaultDataDir = (): string =>
  process.env.TIDEMARK_DATA_DIR ??
  join(process.env.XDG_DATA_HOME ?? join(homedir(), ".local", "share"), "tidemark")
