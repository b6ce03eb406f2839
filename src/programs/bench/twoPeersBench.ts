// The backfill of one kind from two peers at once (issue 12, target 5), next to the one-peer backfill of the
// same run: a second sender C is backfilled from A before timing (so both hold the same entries), then a new
// device D starts with both as peers and splits the entries between them by uuid range. Its time runs from
// D's first connection until both its entry streams have reconciled with their peer after the split (every
// row held and both watermarks set); the time until the split's last range is applied is reported too.
import { Effect } from "effect"
import { join } from "node:path"
import * as DataDir from "../../app/DataDir.js"
import * as Device from "../../layers/Device.js"
import { cpuOf } from "./backfillBench.js"
import { cpuMs } from "./cpu.js"
import { freePort, rowsIn, start, stop, waitForLine } from "./processes.js"

export interface TwoPeersResult {
  /** From D's first connection until both entry streams reconciled after the split. */
  readonly transferSeconds: number
  /** From D's first connection until the split's last range was applied (every row held). */
  readonly splitSeconds: number
  readonly cpuSeconds: {
    readonly senders: number
    readonly receiver: number
    readonly receiverMainThread: number
  }
}

export const run = (
  root: string,
  source: { dir: string; identity: DataDir.Identity },
  rows: number,
  batchSize: number
) =>
  Effect.promise(async (): Promise<TwoPeersResult> => {
    const [portA, portC, portD] = [await freePort(), await freePort(), await freePort()]
    const join_ = DataDir.joinCodeOf(source.identity)
    const daemonA = start("daemon.js", ["--data-dir", source.dir, "--listen", `127.0.0.1:${portA}`])
    await waitForLine(daemonA, "Listening")
    const dirC = join(root, "c")
    await Effect.runPromise(DataDir.joinLibrary(dirC, join_, "bench second sender"))
    const daemonC = start("daemon.js", [
      ...["--data-dir", dirC, "--listen", `127.0.0.1:${portC}`, "--peer", `127.0.0.1:${portA}`],
      ...["--batch-size", String(batchSize)]
    ])
    // A pulls from C too once C is caught up, and first reconciles its entries with C's (fingerprints of a
    // million rows on both, which keeps C from answering anyone meanwhile): time only once that is over.
    const aReconciled = waitForLine(daemonA, "Reconciled entry with")
    await waitForLine(daemonC, "Caught up on entry")
    await aReconciled
    await new Promise((r) => setTimeout(r, 1_000))
    const dirD = join(root, "d")
    await Effect.runPromise(DataDir.joinLibrary(dirD, join_, "bench two-peer receiver"))
    const daemonD = start("daemon.js", [
      ...["--data-dir", dirD, "--listen", `127.0.0.1:${portD}`],
      ...["--peer", `127.0.0.1:${portA}`, "--peer", `127.0.0.1:${portC}`],
      ...["--batch-size", String(batchSize), "--split-backfill"]
    ])
    const cpu = () => {
      const of = cpuOf(daemonA.pid, daemonD.pid)
      return { ...of, sender: of.sender + (daemonC.pid === undefined ? NaN : (cpuMs(daemonC.pid) ?? NaN)) }
    }
    const connected = waitForLine(daemonD, "Connected to").then(() => ({ at: performance.now(), cpu: cpu() }))
    let splitAt: number | undefined
    void waitForLine(daemonD, "Backfilled entry by uuid ranges").then(
      () => (splitAt = performance.now()),
      () => undefined
    )
    await waitForLine(daemonD, "Reconciled entry with", 2)
    const ended = performance.now()
    const endCpu = cpu()
    const from = await connected
    const n = rowsIn(join(dirD, Device.DATABASE_FILE))
    await stop([daemonA, daemonC, daemonD])
    if (n !== rows) throw new Error(`D reconciled holding ${n} entries, not ${rows}`)
    if (splitAt === undefined) throw new Error("D did not split the backfill of entry between A and C")
    return {
      transferSeconds: (ended - from.at) / 1000,
      splitSeconds: (splitAt - from.at) / 1000,
      cpuSeconds: {
        senders: (endCpu.sender - from.cpu.sender) / 1000,
        receiver: (endCpu.receiver - from.cpu.receiver) / 1000,
        receiverMainThread: (endCpu.receiverMainThread - from.cpu.receiverMainThread) / 1000
      }
    }
  })
