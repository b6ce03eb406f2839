// The hybrid logical clock value (Kulkarni et al. 2014): 48-bit wall milliseconds, 16-bit counter and the
// device id that breaks ties, so no two devices ever issue equal timestamps. Pure: the stateful clock lives
// in services/HlcClock.ts. Keeps: `tick` and `receive` return a value strictly greater than their inputs, and
// the string form sorts exactly like the value.
import { Either, ParseResult, Schema } from "effect"
import { DeviceId } from "./Ids.js"
import { ClockDriftError } from "./Errors.js"

export const MAX_WALL = 2 ** 48 - 1
export const MAX_COUNTER = 0xffff

/** A hybrid logical clock value: wall milliseconds (48 bits), a counter (16 bits), the device that issued it. */
export const Hlc = Schema.Struct({
  wall: Schema.Int.pipe(Schema.between(0, MAX_WALL)),
  counter: Schema.Int.pipe(Schema.between(0, MAX_COUNTER)),
  device: DeviceId
})
export type Hlc = typeof Hlc.Type

export const make = (wall: number, counter: number, device: DeviceId): Hlc => ({ wall, counter, device })

/** Total order: wall, then counter, then device id. */
export const compare = (a: Hlc, b: Hlc): -1 | 0 | 1 =>
  a.wall !== b.wall
    ? a.wall < b.wall
      ? -1
      : 1
    : a.counter !== b.counter
      ? a.counter < b.counter
        ? -1
        : 1
      : a.device === b.device
        ? 0
        : a.device < b.device
          ? -1
          : 1

export const max = (a: Hlc, b: Hlc): Hlc => (compare(a, b) >= 0 ? a : b)

// Fixed width: 12 hex digits of wall, 4 of counter, then the 36-character device id. Lower-case hex of a
// fixed width sorts like the number, so comparing two strings compares the clocks.
const stringPattern = /^([0-9a-f]{12})\.([0-9a-f]{4})\.([0-9a-f-]{36})$/

export const format = (h: Hlc): string =>
  `${h.wall.toString(16).padStart(12, "0")}.${h.counter.toString(16).padStart(4, "0")}.${h.device}`

/** `Hlc` encoded as its sortable string form; malformed strings fail to decode with a message saying why. */
export const HlcFromString = Schema.transformOrFail(Schema.String, Hlc, {
  strict: true,
  decode: (s, _, ast) => {
    const m = stringPattern.exec(s)
    if (m === null) {
      return ParseResult.fail(
        new ParseResult.Type(ast, s, "expected an HLC string like 0000000000ab.0001.<device uuid>")
      )
    }
    return ParseResult.succeed({ wall: parseInt(m[1]!, 16), counter: parseInt(m[2]!, 16), device: m[3]! })
  },
  encode: (h) => ParseResult.succeed(format(h as Hlc))
})

/** The HLC string as stored in rows and on the wire (validated by the same pattern). */
export const HlcString = Schema.String.pipe(
  Schema.pattern(stringPattern, { message: () => "expected an HLC string" }),
  Schema.brand("HlcString")
)
export type HlcString = typeof HlcString.Type
const clockPart = /^[0-9a-f]{12}\.[0-9a-f]{4}\./
const DEVICE_PART_START = 18

/**
 * Whether `s` is an HLC string, for many strings in a row: the device part of a page's versions is mostly the
 * same, so the last accepted one is compared before the whole pattern is matched.
 */
export const hlcStringCheck = (): ((s: string) => boolean) => {
  let device = ""
  return (s) => {
    if (s.length !== DEVICE_PART_START + 36 || !clockPart.test(s)) return false
    if (device !== "" && s.endsWith(device)) return true
    if (!stringPattern.test(s)) return false
    device = s.slice(DEVICE_PART_START)
    return true
  }
}

export const parse = Schema.decodeEither(HlcFromString)
export const toHlcString = (h: Hlc): HlcString => format(h) as HlcString

/** The smallest HLC: every issued timestamp is above it. */
export const zero = (device: DeviceId): Hlc => make(0, 0, device)

/** Next timestamp for a local event at physical time `wall`. Counter overflow borrows the next millisecond. */
export const tick = (last: Hlc, wall: number): Hlc => {
  if (wall > last.wall) return make(wall, 0, last.device)
  if (last.counter < MAX_COUNTER) return make(last.wall, last.counter + 1, last.device)
  return make(last.wall + 1, 0, last.device)
}

/**
 * Merge a remote timestamp. Fails, adopting nothing, when the remote is more than `maxDriftMillis` ahead of
 * the local physical clock. The result is above both `last` and `remote` and carries the local device id.
 */
export const receive = (
  last: Hlc,
  remote: Hlc,
  wall: number,
  maxDriftMillis: number
): Either.Either<Hlc, ClockDriftError> => {
  if (remote.wall > wall + maxDriftMillis) {
    return Either.left(new ClockDriftError({ remote: format(remote), localWallMillis: wall, maxDriftMillis }))
  }
  const newWall = Math.max(last.wall, remote.wall, wall)
  let counter: number
  if (newWall === last.wall && newWall === remote.wall) counter = Math.max(last.counter, remote.counter) + 1
  else if (newWall === last.wall) counter = last.counter + 1
  else if (newWall === remote.wall) counter = remote.counter + 1
  else counter = 0
  return Either.right(
    counter > MAX_COUNTER ? make(newWall + 1, 0, last.device) : make(newWall, counter, last.device)
  )
}
