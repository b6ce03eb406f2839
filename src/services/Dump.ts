// The replicated library in a canonical form: one JSON line per row, sorted by resource kind then uuid,
// with the envelope and the fields in a fixed key order. Two converged devices produce identical dumps.
import { Effect } from "effect"
import type { CompiledKind } from "../domain/Catalog.js"
import { type StoredRow } from "../domain/Row.js"
import { Kinds } from "./Kinds.js"
import { LibraryStore } from "./LibraryStore.js"

const PAGE = 10_000

export const canonicalLine = (kind: CompiledKind, row: StoredRow): string => {
  const line: Record<string, unknown> = { resource: kind.name, uuid: row.uuid }
  if (!kind.shared) line.owner = row.owner
  line.version = row.version
  line.deleted = row.deleted
  for (const c of kind.columns) line[c.name] = row.fields[c.name] ?? null
  return JSON.stringify(line)
}

/** Every row of every kind, canonical and sorted. */
export const dumpLines = Effect.gen(function* () {
  const store = yield* LibraryStore
  const catalog = yield* Kinds
  const lines: Array<string> = []
  for (const resource of [...catalog.names].sort()) {
    const rows: Array<StoredRow> = []
    let after = 0
    for (;;) {
      const page = yield* store.readAfter(resource, after, PAGE)
      rows.push(...page)
      if (page.length < PAGE) break
      after = page.at(-1)!.seq
    }
    rows.sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0))
    for (const row of rows) lines.push(canonicalLine(catalog.kind(resource), row))
  }
  return lines
})
