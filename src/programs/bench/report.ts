// Where a benchmark's figures go. Without `--json` its human-readable lines go to stdout; with it, those lines
// go to stderr and stdout carries exactly one JSON line per measured result, for scripts to parse.
import { Layer, Logger } from "effect"

/** A benchmark's output: human-readable lines, and the figures of each result as one JSON object. */
export interface Report {
  readonly line: (text: string) => void
  readonly result: (fields: Readonly<Record<string, number>>) => void
}

/** The report for `--json` (`json = true`) or for a person. */
export const make = (json: boolean): Report =>
  json
    ? {
        line: (text) => console.error(text),
        result: (fields) => console.log(JSON.stringify(fields))
      }
    : { line: (text) => console.log(text), result: () => undefined }

/** With `--json`, Effect's log lines go to stderr too, so stdout holds only the JSON lines. */
export const loggerFor = (json: boolean): Layer.Layer<never> =>
  json ? Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)) : Layer.empty
