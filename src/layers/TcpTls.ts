// TLS for peer connections, keyed by the library secret (TLS 1.3 with an external pre-shared key). There is no
// certificate infrastructure: both sides derive the same PSK from the library secret with HKDF, so the TLS
// handshake itself succeeds only between holders of the secret, and the (EC)DHE key exchange that OpenSSL
// performs with a PSK in TLS 1.3 gives every connection its own forward-secret keys. Invariant: no byte of
// the peer protocol is sent or accepted outside a completed TLS 1.3 session; the library secret itself is
// never sent. The PSK identity is the device id (it appears in clear in the ClientHello, as any SNI would).
import { Effect, Option, type Scope } from "effect"
import { hkdfSync } from "node:crypto"
import type * as Net from "node:net"
import * as Tls from "node:tls"
import { AuthenticationFailed, PeerUnavailable } from "../services/PeerTransport.js"
import { formatAddress, parseAddress } from "./TcpAddress.js"

export { formatAddress, type HostPort, parseAddress } from "./TcpAddress.js"

/** Only TLS 1.3 suites whose hash is SHA-256: Node's PSK callbacks hand OpenSSL a SHA-256 session. */
const CIPHERS = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"

/** The TLS pre-shared key of a library: HKDF-SHA256 over the library secret, bound to this use by its labels. */
export const derivePsk = (secret: string): Buffer =>
  Buffer.from(hkdfSync("sha256", secret, "tidemark/tls-psk", "tidemark tls 1.3 external psk v1", 32))

export const remoteAddressOf = (socket: {
  remoteAddress?: string | undefined
  remotePort?: number | undefined
}) =>
  socket.remoteAddress === undefined
    ? "unknown address"
    : formatAddress(socket.remoteAddress, socket.remotePort ?? 0)

/** Options for `tls.createServer`: accepts any PSK identity, proves nothing unless the client holds the key. */
export const serverOptions = (
  secret: string,
  handshakeTimeoutMillis: number
): Tls.TlsOptions & { readonly noDelay: boolean } => {
  const psk = derivePsk(secret)
  return {
    // Requests and answers are small and latency-bound: Nagle's algorithm would hold them back.
    noDelay: true,
    handshakeTimeout: handshakeTimeoutMillis,
    minVersion: "TLSv1.3",
    ciphers: CIPHERS,
    pskCallback: () => psk
  }
}

const ignore = () => {}

/** An OpenSSL error during the handshake means the keys did not match (or the peer is not Tidemark). */
const isTlsHandshakeError = (cause: Error & { code?: string }): boolean =>
  typeof cause.code === "string" && cause.code.startsWith("ERR_SSL")

/**
 * Open a TLS 1.3 PSK session to `address`. Fails with PeerUnavailable when the peer cannot be reached in
 * time, and with AuthenticationFailed when it answers but the handshake fails (it holds another secret).
 * The socket is destroyed when the scope closes.
 */
export const connectTls = (options: {
  readonly address: string
  readonly secret: string
  readonly identity: string
  readonly timeoutMillis: number
}): Effect.Effect<Tls.TLSSocket, PeerUnavailable | AuthenticationFailed, Scope.Scope> => {
  const { address } = options
  return Effect.acquireRelease(
    Effect.suspend(() => {
      const target = parseAddress(address)
      if (Option.isNone(target)) {
        return Effect.fail(new PeerUnavailable({ address, reason: "not a HOST:PORT address" }))
      }
      const psk = derivePsk(options.secret)
      return Effect.async<Tls.TLSSocket, PeerUnavailable | AuthenticationFailed>((resume) => {
        let tcpConnected = false
        const socket = Tls.connect({
          host: target.value.host,
          port: target.value.port,
          minVersion: "TLSv1.3",
          ciphers: CIPHERS,
          pskCallback: () => ({ psk, identity: options.identity }),
          // No certificates exist: the peer is authenticated by the PSK (and then by the handshake proofs).
          checkServerIdentity: () => undefined
        })
        // Requests and answers are small and latency-bound: Nagle's algorithm would hold them back.
        socket.setNoDelay(true)
        const timer = setTimeout(() => {
          socket.destroy()
          resume(
            Effect.fail(
              new PeerUnavailable({ address, reason: `no TLS session within ${options.timeoutMillis} ms` })
            )
          )
        }, options.timeoutMillis)
        const onError = (cause: Error & { code?: string }) => {
          clearTimeout(timer)
          socket.destroy()
          resume(
            Effect.fail(
              tcpConnected && isTlsHandshakeError(cause)
                ? new AuthenticationFailed({
                    address,
                    reason: `the TLS handshake failed, the peer does not hold this library's secret (${cause.code})`
                  })
                : new PeerUnavailable({ address, reason: cause.code ?? cause.message })
            )
          )
        }
        socket.once("connect", () => {
          tcpConnected = true
        })
        socket.on("error", onError)
        socket.once("secureConnect", () => {
          clearTimeout(timer)
          socket.off("error", onError)
          // Until the connection wrapper takes over, an error must not go unhandled (it would end the process);
          // the wrapper learns of it from the close that follows.
          socket.on("error", ignore)
          resume(Effect.succeed(socket))
        })
        return Effect.sync(() => {
          clearTimeout(timer)
          socket.destroy()
        })
      })
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )
}

/**
 * Start `server` listening at host:port. Succeeds with the bound "HOST:PORT" (the real port when 0 was asked
 * for); fails with the listen error's code (EADDRINUSE …) for the caller to word.
 */
export const listenOn = (server: Net.Server, host: string, port: number): Effect.Effect<string, string> =>
  Effect.async<string, string>((resume) => {
    const onError = (error: Error & { code?: string }) => resume(Effect.fail(error.code ?? error.message))
    server.once("error", onError)
    server.listen(port, host, () => {
      server.off("error", onError)
      const bound = server.address()
      resume(
        Effect.succeed(
          bound !== null && typeof bound === "object" ? formatAddress(host, bound.port) : `${host}:${port}`
        )
      )
    })
  })
