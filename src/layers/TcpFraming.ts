// How peer messages are cut out of a TCP byte stream: each frame is a 4-byte big-endian length followed by
// that many bytes of MessagePack. Invariant: a frame whose declared length exceeds the limit is rejected as
// soon as its header arrives, before any of its bytes are buffered or decoded, so a peer can never make us
// hold more than one limit's worth of its data; anything that is not exactly one well-formed MessagePack value
// per frame, shaped like an @effect/rpc message, is rejected too. Rejections are thrown as `FrameError` (the
// `RpcSerialization` parser contract is synchronous); the connection owning the parser turns them into a
// ProtocolViolation and closes.
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import type { FromClientEncoded, FromServerEncoded } from "@effect/rpc/RpcMessage"
import { Data, Predicate } from "effect"
import { Packr, Unpackr } from "msgpackr"
import { MAX_FRAME_BYTES } from "../domain/Protocol.js"

const HEADER_BYTES = 4

/** A frame could not be accepted (too large, undecodable, or not a protocol message). */
export class FrameError extends Data.TaggedError("FrameError")<{ readonly reason: string }> {
  get message() {
    return this.reason
  }
}

const describe = (cause: unknown): string =>
  cause instanceof Error ? cause.message : typeof cause === "string" ? cause : "unknown decoding error"

/**
 * Length-prefixed MessagePack for @effect/rpc. `maxFrameBytes` bounds the payload of every frame both ways: a
 * larger incoming declaration throws before buffering, a larger outgoing message throws instead of sending
 * something the peer must refuse.
 */
export const makeFramedMsgPack = (
  maxFrameBytes: number = MAX_FRAME_BYTES
): RpcSerialization.RpcSerialization["Type"] =>
  RpcSerialization.RpcSerialization.of({
    contentType: "application/x-tidemark-frames",
    includesFraming: true,
    unsafeMake: () => {
      const packr = new Packr({ useRecords: true })
      const unpackr = new Unpackr({ useRecords: true })
      let chunks: Array<Buffer> = []
      let buffered = 0
      /** Payload length of the frame being received, once its header is in; -1 while waiting for a header. */
      let expected = -1
      let failed = false

      const take = (n: number): Buffer => {
        if (chunks[0]!.length < n) chunks = [Buffer.concat(chunks, buffered)]
        const head = chunks[0]!
        const out = head.subarray(0, n)
        if (head.length === n) chunks.shift()
        else chunks[0] = head.subarray(n)
        buffered -= n
        return out
      }

      const reject = (reason: string): never => {
        failed = true
        chunks = []
        buffered = 0
        throw new FrameError({ reason })
      }

      const decodeOne = (payload: Buffer): unknown => {
        let values: Array<unknown>
        try {
          values = unpackr.unpackMultiple(payload) ?? []
        } catch (cause) {
          return reject(`undecodable frame: ${describe(cause)}`)
        }
        if (values.length !== 1)
          return reject(`a frame must hold exactly one value, it held ${values.length}`)
        return values[0]
      }

      return {
        decode: (data) => {
          if (failed) return reject("the stream already carried an invalid frame")
          const chunk =
            typeof data === "string"
              ? Buffer.from(data)
              : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
          if (chunk.length > 0) {
            chunks.push(chunk)
            buffered += chunk.length
          }
          const out: Array<unknown> = []
          for (;;) {
            if (expected < 0) {
              if (buffered < HEADER_BYTES) break
              expected = take(HEADER_BYTES).readUInt32BE(0)
              if (expected > maxFrameBytes) {
                reject(`a frame declared ${expected} bytes, more than the limit of ${maxFrameBytes}`)
              }
              if (expected === 0) reject("empty frame")
            }
            if (buffered < expected) break
            const payload = take(expected)
            expected = -1
            out.push(decodeOne(payload))
          }
          return out
        },
        encode: (message) => {
          const payload = packr.pack(message)
          if (payload.length > maxFrameBytes) {
            throw new FrameError({
              reason: `an outgoing message of ${payload.length} bytes exceeds the frame limit of ${maxFrameBytes}`
            })
          }
          const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length)
          frame.writeUInt32BE(payload.length, 0)
          payload.copy(frame, HEADER_BYTES)
          return frame
        }
      }
    }
  })

// ---- message shapes ---------------------------------------------------------------------------------------
// The rpc runtime trusts the shape of what the parser returns; these checks make sure a peer cannot hand it a
// value it would crash on. Payloads and results are then decoded by their Schemas.

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && Object.getPrototypeOf(u) === Object.prototype
const isHeaders = (u: unknown): boolean =>
  Array.isArray(u) && u.every((h) => Array.isArray(h) && h.length === 2 && h.every(Predicate.isString))

export const isFromClientEncoded = (u: unknown): u is FromClientEncoded => {
  if (!isRecord(u)) return false
  switch (u._tag) {
    case "Request":
      return (
        Predicate.isString(u.id) &&
        /^\d{1,20}$/.test(u.id) &&
        Predicate.isString(u.tag) &&
        isHeaders(u.headers) &&
        (u.traceId === undefined || Predicate.isString(u.traceId)) &&
        (u.spanId === undefined || Predicate.isString(u.spanId)) &&
        (u.sampled === undefined || Predicate.isBoolean(u.sampled))
      )
    case "Ack":
    case "Interrupt":
      return Predicate.isString(u.requestId) && /^\d{1,20}$/.test(u.requestId)
    case "Ping":
    case "Eof":
      return true
    default:
      return false
  }
}

export const isFromServerEncoded = (u: unknown): u is FromServerEncoded => {
  if (!isRecord(u)) return false
  switch (u._tag) {
    case "Exit":
      return Predicate.isString(u.requestId) && isRecord(u.exit)
    case "Chunk":
      return Predicate.isString(u.requestId) && Array.isArray(u.values) && u.values.length > 0
    case "Defect":
      return "defect" in u
    case "Pong":
      return true
    default:
      return false
  }
}
