import {type EnsureOptions, HostError, type HostStage, type Installed, type LocalBundle, ensureBundle, remoteReason, sudoRefused} from './bundle.js'
import type {FleetHost} from './inventory.js'
import type {Transport} from './transport.js'
import {EXIT, RUNBOOK_EXIT} from '../errors.js'
import {shellQuote} from '../system/shell.js'

/** What happened on one host: its answer, or the error that stopped it, and at which stage. */
export type HostOutcome<T> =
  | {host: FleetHost; ok: true; value: T; copied: boolean; seconds: number; removed?: string[]}
  | {host: FleetHost; ok: false; error: {stage: HostStage; message: string}; seconds: number}

export interface HostEvents {
  started?(host: FleetHost): void
  copying?(host: FleetHost): void
  running?(host: FleetHost): void
  finished?(outcome: HostOutcome<unknown>): void
}

export interface FleetOptions {
  transport: Transport
  bundle: LocalBundle
  concurrency: number
  /** Per remote command (the copy, the run). */
  timeoutMs: number
  signal?: AbortSignal
  events?: HostEvents
  /** Run diag as root on every host: through `sudo -n` where the login user is not root. */
  become?: boolean
}

/** What is run on each host around diag, and how its answer is read. */
export interface RemoteWork<T> {
  /** diag's arguments (--json is added). */
  args: string[]
  /** Reads a host's stdout into its answer; throws when it holds none. */
  parse: (stdout: string, exitCode: number) => T
  /** The script run on the host, around the diag command line given (quoted); stopsWithSession by default. */
  script?: (command: string) => string
  /** Exit codes besides 0 with which diag still answered (a runbook's verdicts). */
  answers?: number[]
}


/** At most `limit` of `items` at once, results in the items' order. */
async function pool<I, O>(items: I[], limit: number, work: (item: I) => Promise<O>): Promise<O[]> {
  const results: O[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await work(items[index])
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(limit, items.length))}, worker))
  return results
}

type Ready = {host: FleetHost; start: number} & Installed
type Prepared = Ready | HostOutcome<never>

/**
 * Runs `diag ARGS` (with --json) on every host, copying the bundle first where it is missing (at
 * most `concurrency` hosts at once); then runs diag, `concurrency` at once, or with `together` on
 * every ready host at the same moment (a fleet run: same start, same duration). `parse` reads each
 * host's JSON. A host that fails is an outcome like any other: the others go on.
 */
export async function onEveryHost<T>(hosts: FleetHost[], remote: RemoteWork<T>, options: FleetOptions & {together?: boolean}): Promise<HostOutcome<T>[]> {
  const prepared = await pool(hosts, options.concurrency, (host) => prepare(host, options))
  const finish = (outcome: HostOutcome<T>) => {
    options.events?.finished?.(outcome)
    return outcome
  }
  return pool(prepared, options.together ? prepared.length : options.concurrency, async (ready) =>
    finish('ok' in ready ? ready : await runDiag(ready, remote, options)),
  )
}

const failure = (host: FleetHost, start: number, error: unknown, signal?: AbortSignal): HostOutcome<never> => {
  const seconds = (Date.now() - start) / 1000
  if (error instanceof HostError) return {host, ok: false, error: {stage: error.stage, message: error.message}, seconds}
  const message = signal?.aborted ? 'interrupted' : error instanceof Error ? error.message : String(error)
  return {host, ok: false, error: {stage: 'run', message}, seconds}
}

async function prepare(host: FleetHost, options: FleetOptions): Promise<Prepared> {
  const start = Date.now()
  options.events?.started?.(host)
  try {
    options.signal?.throwIfAborted()
    const ensure: EnsureOptions = {timeoutMs: options.timeoutMs, signal: options.signal, become: options.become, onCopy: () => options.events?.copying?.(host)}
    return {host, start, ...(await ensureBundle(options.transport, host, options.bundle, ensure))}
  } catch (error) {
    return failure(host, start, error, options.signal)
  }
}

async function runDiag<T>(ready: Ready, remote: RemoteWork<T>, options: FleetOptions): Promise<HostOutcome<T>> {
  const {host, start} = ready
  const {args, parse} = remote
  try {
    options.signal?.throwIfAborted()
    options.events?.running?.(host)
    const what = `diag ${args[0]}`
    // --json before any `--`, after which everything is the traced command's.
    const dash = args.indexOf('--')
    const argv = dash < 0 ? [...args, '--json'] : [...args.slice(0, dash), '--json', ...args.slice(dash)]
    const command = [...(ready.sudo ? ['sudo', '-n', '--'] : []), ready.diag, ...argv].map(shellQuote).join(' ')
    const script = (remote.script ?? stopsWithSession)(command)
    const run = await options.transport.run(host, script, {timeoutMs: options.timeoutMs, signal: options.signal, holdStdin: true})
    if (options.signal?.aborted) throw new HostError('run', 'interrupted: diag there was stopped with its ssh session')
    if (run.unreachable) throw new HostError('connect', remoteReason(run, 'ssh'))
    if (run.timedOut) throw new HostError('run', `${what} timed out after ${options.timeoutMs / 1000} s`)
    // sudo itself refused (exit 1, its own words, no diag output): the check before the first
    // copy could ask only whether the user has any rule without a password, not one for diag.
    const refusal = ready.sudo && run.exitCode === 1 && run.stdout.trim() === '' ? /^sudo: (.*)$/m.exec(run.stderr)?.[1] : undefined
    if (refusal) throw new HostError('become', sudoRefused(ready.user ?? 'the login user', refusal))
    const error = jsonError(run.stdout)
    if (error) throw new HostError('run', `${what}: ${error}`)
    if (run.exitCode !== 0 && !remote.answers?.includes(run.exitCode)) throw new HostError('run', remoteReason(run, what))
    let value: T
    try {
      value = parse(run.stdout, run.exitCode)
    } catch {
      throw new HostError('run', `${what} printed no JSON: ${remoteReason(run, what)}`)
    }
    return {host, ok: true, value, copied: ready.copied, seconds: (Date.now() - start) / 1000, ...(ready.removed.length > 0 ? {removed: ready.removed} : {})}
  } catch (error) {
    return failure(host, start, error, options.signal)
  }
}

/**
 * A remote command that ends with the ssh session: without a terminal sshd sends no SIGHUP, so a
 * watcher reads the session's stdin (held open by the local side, which never writes to it) and
 * sends SIGTERM to diag when it ends (diag killed, interrupted or timed out here, or the network
 * gone): diag then stops as on Ctrl-C and undoes what it did to the kernel. Under --become the
 * signal goes to sudo (the login user may signal it), which passes it on to diag, root.
 */
export function stopsWithSession(command: string, then: string[] = []): string {
  return [
    'exec 3<&0',
    `${command} </dev/null &`,
    'pid=$!',
    '{ cat <&3 >/dev/null 2>&1; kill -TERM $pid 2>/dev/null; } 3<&3 >/dev/null 2>&1 &',
    'watcher=$!',
    'wait $pid',
    'status=$?',
    'kill $watcher 2>/dev/null',
    ...then,
    'exit $status',
  ].join('\n')
}

/** The message of the JSON error diag printed (`{"error": {...}}`), if it printed one. */
function jsonError(stdout: string): string | undefined {
  try {
    const error = (JSON.parse(stdout) as {error?: {message?: string}}).error
    return error ? (error.message ?? JSON.stringify(error)) : undefined
  } catch {
    return undefined
  }
}

/** A fleet command's exit code by its hosts: 0 when every one answered, 9 when one did not. */
export const answeredExitCode = (outcomes: {ok: boolean}[]): number => (outcomes.every((o) => o.ok) ? EXIT.ok : RUNBOOK_EXIT.incomplete)
