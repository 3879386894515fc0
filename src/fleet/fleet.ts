import {type EnsureOptions, HostError, type LocalBundle, ensureBundle, remoteReason} from './bundle.js'
import type {FleetHost} from './inventory.js'
import type {Transport} from './transport.js'

/** What happened on one host: its answer, or the error that stopped it, and at which stage. */
export type HostOutcome<T> =
  | {host: FleetHost; ok: true; value: T; copied: boolean; seconds: number}
  | {host: FleetHost; ok: false; error: {stage: 'connect' | 'install' | 'run'; message: string}; seconds: number}

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
}

const shellQuote = (text: string) => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`)

/**
 * Runs `diag ARGS` (with --json) on every host, at most `concurrency` at once, copying the bundle
 * first where it is missing; parses each host's JSON with `parse`. A host that fails is an outcome
 * like any other: the others go on.
 */
export async function onEveryHost<T>(hosts: FleetHost[], args: string[], parse: (json: unknown) => T, options: FleetOptions): Promise<HostOutcome<T>[]> {
  const outcomes: HostOutcome<T>[] = new Array(hosts.length)
  let next = 0
  const worker = async () => {
    while (next < hosts.length) {
      const index = next++
      outcomes[index] = await onOneHost(hosts[index], args, parse, options)
      options.events?.finished?.(outcomes[index])
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(options.concurrency, hosts.length))}, worker))
  return outcomes
}

async function onOneHost<T>(host: FleetHost, args: string[], parse: (json: unknown) => T, options: FleetOptions): Promise<HostOutcome<T>> {
  const start = Date.now()
  const seconds = () => (Date.now() - start) / 1000
  options.events?.started?.(host)
  try {
    options.signal?.throwIfAborted()
    const ensure: EnsureOptions = {timeoutMs: options.timeoutMs, signal: options.signal, onCopy: () => options.events?.copying?.(host)}
    const {diag, copied} = await ensureBundle(options.transport, host, options.bundle, ensure)
    options.events?.running?.(host)
    const run = await options.transport.run(host, [diag, ...args, '--json'].map(shellQuote).join(' '), {timeoutMs: options.timeoutMs, signal: options.signal})
    if (run.unreachable) throw new HostError('connect', remoteReason(run, 'ssh'))
    if (run.timedOut) throw new HostError('run', `diag ${args[0]} timed out after ${options.timeoutMs / 1000} s`)
    let json: unknown
    try {
      json = JSON.parse(run.stdout)
    } catch {
      throw new HostError('run', `diag ${args[0]} printed no JSON: ${remoteReason(run, `diag ${args[0]}`)}`)
    }
    const error = (json as {error?: {message?: string}}).error
    if (error) throw new HostError('run', `diag ${args[0]}: ${error.message ?? JSON.stringify(error)}`)
    if (run.exitCode !== 0) throw new HostError('run', remoteReason(run, `diag ${args[0]}`))
    return {host, ok: true, value: parse(json), copied, seconds: seconds()}
  } catch (error) {
    if (error instanceof HostError) return {host, ok: false, error: {stage: error.stage, message: error.message}, seconds: seconds()}
    const message = options.signal?.aborted ? 'interrupted' : error instanceof Error ? error.message : String(error)
    return {host, ok: false, error: {stage: 'run', message}, seconds: seconds()}
  }
}
