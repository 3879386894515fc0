import {readFile} from 'node:fs/promises'

import type {UndoLog} from '../system/undo.js'
import {localBundle} from './bundle.js'
import {type HostOutcome, onEveryHost} from './fleet.js'
import {parseInventory} from './inventory.js'
import {listrFleetProgress, plainFleetProgress} from './progress.js'
import {SshTransport} from './transport.js'

/** The fleet flags as parsed (src/fleet/flags.ts). */
export interface FleetFlags {
  hosts: string
  concurrency: number
  'connect-timeout': number
  timeout: number
  'ssh-config'?: string
  bundle?: string
}

export interface FleetSession<T> {
  /** What is asked of each host: `diag ARGS`, with its JSON read by `parse`. */
  args: string[]
  parse: (stdout: string) => T
  /** What the progress lines call the work: "capabilities", a tool's name. */
  title: string
  /** Start diag on every ready host at the same moment (a fleet run), not `concurrency` at once. */
  together?: boolean
  /** Progress drawn with listr2 on stderr's terminal; plain lines on stderr otherwise. */
  interactive: boolean
  undo: UndoLog
  signal: AbortSignal
}

/**
 * What every `diag fleet` command does around its own question: read the inventory, find the
 * bundle, reach every host over ssh (its connections closed through the undo log), show progress,
 * and give back each host's outcome. Failing hosts are outcomes too; the others go on.
 */
export async function runOnFleet<T>(flags: FleetFlags, session: FleetSession<T>): Promise<{outcomes: HostOutcome<T>[]; bundle: {version: string; sha256: string}}> {
  const {hosts} = parseInventory(await readFile(flags.hosts, 'utf8'), flags.hosts)
  const bundle = await localBundle(flags.bundle)
  const transport = new SshTransport({connectTimeout: flags['connect-timeout'], configFile: flags['ssh-config']})
  session.undo.push('close the ssh connections', () => transport.close())
  const progress = session.interactive ? listrFleetProgress(hosts, session.title) : plainFleetProgress((line) => process.stderr.write(`${line}\n`))
  const outcomes = await onEveryHost(hosts, session.args, session.parse, {
    transport,
    bundle,
    concurrency: flags.concurrency,
    together: session.together,
    timeoutMs: flags.timeout * 1000,
    signal: session.signal,
    events: progress.events,
  })
  await progress.done
  // The connections end here, not at exit: what follows only renders.
  await session.undo.unwind()
  return {outcomes, bundle: {version: bundle.version, sha256: bundle.sha256}}
}
