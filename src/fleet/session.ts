import {constants} from 'node:fs'
import {access, readFile} from 'node:fs/promises'

import {BadInputError} from '../errors.js'

import type {UndoLog} from '../system/undo.js'
import {localBundle} from './bundle.js'
import {type HostOutcome, type RemoteWork, onEveryHost} from './fleet.js'
import {type FleetHost, parseInventory} from './inventory.js'
import {listrFleetProgress, plainFleetProgress} from './progress.js'
import {SshTransport} from './transport.js'

/** The fleet flags as parsed (src/fleet/flags.ts). */
export interface FleetFlags {
  hosts: string
  concurrency: number
  'connect-timeout': number
  timeout: number
  'ssh-config'?: string
  'identity-file'?: string
  become: boolean
  bundle?: string
}

/** What is asked of each host: `diag ARGS`, with its JSON read by `parse` (RemoteWork, src/fleet/fleet.ts). */
export interface FleetSession<T> extends RemoteWork<T> {
  /** What the progress lines call the work: "capabilities", a tool's name. */
  title: string
  /** Start diag on every ready host at the same moment (a fleet run), not `concurrency` at once. */
  together?: boolean
  /** Progress drawn with listr2 on stderr's terminal; plain lines on stderr otherwise. */
  interactive: boolean
  undo: UndoLog
  signal: AbortSignal
  /** Checks of the command's own that need the hosts' names, before any host is asked. */
  prepare?: (hosts: FleetHost[]) => Promise<void>
}

/**
 * What every `diag fleet` command does around its own question: read the inventory, find the
 * bundle, reach every host over ssh (its connections closed through the undo log), show progress,
 * and give back each host's outcome. Failing hosts are outcomes too; the others go on.
 */
export async function runOnFleet<T>(flags: FleetFlags, session: FleetSession<T>): Promise<{outcomes: HostOutcome<T>[]; bundle: {version: string; sha256: string}}> {
  const identityFile = flags['identity-file']
  if (identityFile !== undefined) await checkReadable('--identity-file', identityFile)
  const {hosts} = parseInventory(await readFile(flags.hosts, 'utf8'), flags.hosts)
  await session.prepare?.(hosts)
  const bundle = await localBundle(flags.bundle)
  const transport = new SshTransport({connectTimeout: flags['connect-timeout'], configFile: flags['ssh-config'], identityFile})
  session.undo.push('close the ssh connections', () => transport.close())
  const progress = session.interactive ? listrFleetProgress(hosts, session.title) : plainFleetProgress((line) => process.stderr.write(`${line}\n`))
  const outcomes = await onEveryHost(hosts, session, {
    transport,
    bundle,
    become: flags.become,
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

/** ssh would only say "no such identity" and try the next key: a key that cannot be read is refused here. */
export async function checkReadable(flag: string, file: string): Promise<void> {
  try {
    await access(file, constants.R_OK)
  } catch (error) {
    throw new BadInputError(`${flag} ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'cannot be read'}`)
  }
}
