// Peer addresses as text ("HOST:PORT", "[IPv6]:PORT"). Its own module, without TLS or sockets, so that
// checking an address (the daemon's arguments, the public Transport.parseAddress) loads neither.
import { Option } from "effect"

/** A peer address taken apart. */
export interface HostPort {
  readonly host: string
  readonly port: number
}

/** "HOST:PORT" or "[IPv6]:PORT". */
export const parseAddress = (address: string): Option.Option<HostPort> => {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address)
  if (match === null) return Option.none()
  const port = Number(match[3])
  if (port > 65535) return Option.none()
  return Option.some({ host: match[1] ?? match[2]!, port })
}

/** `host` and `port` as "HOST:PORT", in brackets for an IPv6 host. */
export const formatAddress = (host: string, port: number): string =>
  host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`
