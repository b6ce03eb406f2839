// How devices reach each other: TCP with TLS between processes and machines, or a network inside one process.
import { Effect, Layer, type Option } from "effect"
import * as TransportMemory from "../layers/TransportMemory.js"
import * as TransportTcp from "../layers/TransportTcp.js"
import * as TcpAddress from "../layers/TcpAddress.js"
import type { Credentials } from "../services/Credentials.js"
import type { PeerTransport } from "../services/PeerTransport.js"

export type { TransportTcpOptions } from "../layers/TransportTcp.js"
export type { Faults } from "../layers/TransportMemory.js"

/** TCP with TLS, the default: devices authenticate with the library secret before anything is exchanged. */
export const tcp = (
  options?: TransportTcp.TransportTcpOptions
): Layer.Layer<PeerTransport, never, Credentials> => TransportTcp.layer(options)

/** A network inside one process that can drop, delay, duplicate and reorder messages, and partition devices. */
export type MemoryNetwork = TransportMemory.MemoryNetwork["Type"]

/** A new in-process network; give it to `memory` for every device that should share it. */
export const memoryNetwork: Effect.Effect<MemoryNetwork> = TransportMemory.makeNetwork

/** A transport on `network`: devices listen at and connect to "memory:<name>" addresses. */
export const memory = (network: MemoryNetwork): Layer.Layer<PeerTransport, never, Credentials> =>
  TransportMemory.layer.pipe(Layer.provide(Layer.succeed(TransportMemory.MemoryNetwork, network)))

/** No faults: every message arrives once, in order. */
export const noFaults: TransportMemory.Faults = TransportMemory.noFaults

/** The host and port of a TCP address, "host:port" or "[ipv6]:port"; none when it is not one. */
export const parseAddress = (
  address: string
): Option.Option<{ readonly host: string; readonly port: number }> => TcpAddress.parseAddress(address)
