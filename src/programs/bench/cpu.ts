// CPU time of processes from Linux's /proc, which other load on the machine disturbs much less than wall time.
import { existsSync, readFileSync } from "node:fs"

/** Linux's clock ticks per second in /proc/PID/stat (USER_HZ: 100 on every architecture Node runs on). */
const TICKS_PER_SECOND = 100

/**
 * CPU milliseconds from /proc/PID/stat: `utime + stime` of a live process (all its threads), or with
 * `children`, `cutime + cstime`, the CPU time of the process's children that it has waited for (Node waits
 * for each as it exits), or with `mainThread`, of the process's main thread alone (where a Node program runs
 * its JavaScript and better-sqlite3 its statements). Undefined where there is no /proc or no such process.
 */
export const cpuMs = (
  pid: number | "self",
  of: "process" | "children" | "mainThread" = "process"
): number | undefined => {
  const path = of === "mainThread" ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`
  if (!existsSync(path)) return undefined
  let stat: string
  try {
    stat = readFileSync(path, "utf8")
  } catch {
    return undefined // it exited between the two calls
  }
  // Fields after the command name in brackets, which may contain spaces: state is field 3, utime 14.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  const at = of === "children" ? 13 : 11
  return ((Number(fields[at]) + Number(fields[at + 1])) * 1000) / TICKS_PER_SECOND
}
