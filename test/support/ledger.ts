// The chaos test's ledger: every tag write the CLI reported as done (exit code 0), with the device it ran
// on and the wall-clock interval it ran in, and the oracle that checks the converged library against it.
//
// What "acknowledged" and "last writer wins" mean here. A write the CLI acknowledged was committed on its
// device with a version (an HLC) that is at least the wall time when the command started: the HLC takes the
// maximum of the wall clock and everything it saw before, and all daemons and commands run on one machine,
// one clock. Replicas keep the highest version. So for every tag:
//
//   1. not lost: the final version's wall time is at least the start of every acknowledged write to it
//      (otherwise an older version won over an acknowledged write: that write was lost);
//   2. no invention: the final row is the outcome of an acknowledged write — made on the device the final
//      version names, started no later than the final version's wall time, with the same name (or the
//      same deletion);
//   3. every acknowledged add is there, and no tag or assignment is there that no acknowledged write made.
//
// Writes on different devices that ran at overlapping times are concurrent: either may win, by version (1
// and 2 allow both). A later write on the same device, or one that started after another was acknowledged,
// has a higher version, so it must win (rule 1 rejects the other). Every write the test makes changes
// something (rename names never repeat, each tag is deleted at most once, each pair assigned at most once),
// so no acknowledged write is a no-op that left an older version standing. Assignments are never deleted:
// every acknowledged one is live in the end, naming its tag and entry.
import * as Hlc from "../../src/domain/Hlc.js"
import { Either } from "effect"

export type TagWrite =
  | { readonly op: "add"; readonly tag: string; readonly name: string }
  | { readonly op: "rename"; readonly tag: string; readonly name: string }
  | { readonly op: "delete"; readonly tag: string }
  | { readonly op: "assign"; readonly tag: string; readonly entry: string; readonly uuid: string }

export interface Acknowledged {
  readonly write: TagWrite
  /** The device id of the data directory it ran on (the id an HLC it stamps carries). */
  readonly device: string
  /** Wall-clock milliseconds when the command was started and when it reported done. */
  readonly started: number
  readonly ended: number
  readonly via: "bin" | "in-process"
}

export type Row = Record<string, unknown> & { resource: string; uuid: string; deleted: boolean }

const describe = (a: Acknowledged) =>
  `${a.write.op} ${JSON.stringify(a.write)} on ${a.device} (${a.via}, ${a.started}–${a.ended})`

const versionOf = (row: Row) => {
  const parsed = Hlc.parse(row.version as string)
  if (Either.isLeft(parsed)) throw new Error(`unreadable version in ${JSON.stringify(row)}`)
  return parsed.right
}

/** Whether the final row is what `a` wrote. */
const outcomeMatches = (a: Acknowledged, row: Row) => {
  switch (a.write.op) {
    case "add":
    case "rename":
      return !row.deleted && row.name === a.write.name
    case "delete":
      return row.deleted
    case "assign":
      return !row.deleted && row.tag === a.write.tag && row.entry === a.write.entry
  }
}

/** Every way the converged rows break the ledger; empty when none. */
export const violations = (
  ledger: ReadonlyArray<Acknowledged>,
  rows: ReadonlyArray<Row>
): ReadonlyArray<string> => {
  const out: Array<string> = []
  const byUuid = new Map(
    rows
      .filter((r) => r.resource === "tag" || r.resource === "tag_assignment")
      .map((r) => [`${r.resource}:${r.uuid}`, r])
  )
  const writesTo = new Map<string, Array<Acknowledged>>()
  for (const a of ledger) {
    const key = a.write.op === "assign" ? `tag_assignment:${a.write.uuid}` : `tag:${a.write.tag}`
    writesTo.set(key, [...(writesTo.get(key) ?? []), a])
  }
  for (const [key, writes] of writesTo) {
    const row = byUuid.get(key)
    if (row === undefined) {
      out.push(`${key}: missing, though acknowledged: ${writes.map(describe).join("; ")}`)
      continue
    }
    const version = versionOf(row)
    for (const w of writes) {
      if (version.wall < w.started) {
        out.push(
          `${key}: lost ${describe(w)}: the final row ${JSON.stringify(row)} has an older version (wall ${version.wall})`
        )
      }
    }
    const made = writes.some(
      (w) => w.device === version.device && w.started <= version.wall && outcomeMatches(w, row)
    )
    if (!made) {
      out.push(
        `${key}: the final row ${JSON.stringify(row)} is no acknowledged write's; acknowledged: ${writes.map(describe).join("; ")}`
      )
    }
  }
  for (const [key, row] of byUuid) {
    if (!writesTo.has(key)) out.push(`${key}: present (${JSON.stringify(row)}) but never acknowledged`)
  }
  return out
}
