// Mutual challenge–response over the library secret. Each side sends a fresh random nonce; each proves
// knowledge of the secret with an HMAC over both nonces and both device ids, labelled by its role, so a proof
// can be neither replayed on another connection nor reflected back. Proofs are compared in constant time.
// The secret itself never crosses the wire.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import type { DeviceId, LibraryId } from "./Ids.js"

export type Role = "client" | "server"

export interface Transcript {
  readonly libraryId: LibraryId
  readonly clientDevice: DeviceId
  readonly serverDevice: DeviceId
  readonly clientNonce: string
  readonly serverNonce: string
}

/** 32 random bytes, base64url: a nonce or a new library secret. */
export const randomToken = (): string => randomBytes(32).toString("base64url")

export const proof = (secret: string, role: Role, t: Transcript): string =>
  createHmac("sha256", secret)
    .update(
      [
        "tidemark-auth-v1",
        role,
        t.libraryId,
        t.clientDevice,
        t.serverDevice,
        t.clientNonce,
        t.serverNonce
      ].join("\n")
    )
    .digest("base64url")

export const verify = (secret: string, role: Role, t: Transcript, candidate: string): boolean => {
  const expected = Buffer.from(proof(secret, role, t))
  const given = Buffer.from(candidate)
  return expected.length === given.length && timingSafeEqual(expected, given)
}
