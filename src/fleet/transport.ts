import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'

import type {FleetHost} from './inventory.js'

export interface RemoteRun {
  exitCode: number
  stdout: string
  stderr: string
  /** ssh itself failed (exit 255): the host was not reached, or refused the login. */
  unreachable: boolean
  timedOut: boolean
}

export interface RunOptions {
  /** A local file sent as the remote command's stdin. */
  inputFile?: string
  /**
   * Keep the remote command's stdin open, sending nothing, for as long as the local ssh runs: the
   * remote side sees it end when the connection does (see fleet.ts, stopsWithSession).
   */
  holdStdin?: boolean
  timeoutMs?: number
  signal?: AbortSignal
}

/** How diag reaches the hosts of a fleet: the system ssh client, or a fake in the unit tests. */
export interface Transport {
  /** Runs a POSIX sh script on the host. */
  run(host: FleetHost, script: string, options?: RunOptions): Promise<RemoteRun>
  /** Ends every connection it opened. */
  close(): Promise<void>
}

export interface SshOptions {
  /** Seconds to wait for a host to answer (ssh's ConnectTimeout). */
  connectTimeout: number
  /** An ssh config file to use instead of ~/.ssh/config (ssh -F). */
  configFile?: string
  /** A private key to log in with (ssh -i), and only it (IdentitiesOnly). */
  identityFile?: string
  /** The ssh program; `ssh` from PATH. */
  program?: string
}

const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`

/**
 * The system ssh client, run through execa: the user's ssh config, agent and known_hosts hold; it
 * never asks (BatchMode), and one master connection per host (ControlMaster, in a private temporary
 * directory) carries all of diag's commands to it. close() ends the masters.
 */
export class SshTransport implements Transport {
  private readonly controlDir = mkdtempSync(path.join(tmpdir(), 'diag-ssh-'))
  private readonly used = new Map<string, FleetHost>()

  constructor(private readonly options: SshOptions) {}

  private args(host: FleetHost): string[] {
    return [
      ...(this.options.configFile ? ['-F', this.options.configFile] : []),
      ...(this.options.identityFile ? ['-i', this.options.identityFile, '-o', 'IdentitiesOnly=yes'] : []),
      '-o', 'BatchMode=yes',
      '-o', `ConnectTimeout=${this.options.connectTimeout}`,
      // A host that stops answering mid-run is given up after three missed keepalives.
      '-o', 'ServerAliveInterval=5',
      '-o', 'ServerAliveCountMax=3',
      '-o', 'ControlMaster=auto',
      '-o', `ControlPath=${this.controlDir}/%C`,
      // Should close() not run (diag killed), a master ends by itself soon after.
      '-o', 'ControlPersist=30',
      ...(host.port ? ['-p', String(host.port)] : []),
      ...(host.user ? ['-l', host.user] : []),
      '--',
      host.destination,
    ]
  }

  async run(host: FleetHost, script: string, options: RunOptions = {}): Promise<RemoteRun> {
    this.used.set(host.name, host)
    const result = await execa(this.options.program ?? 'ssh', [...this.args(host), `sh -c ${quote(script)}`], {
      reject: false,
      stdin: options.inputFile ? {file: options.inputFile} : options.holdStdin ? 'pipe' : 'ignore',
      timeout: options.timeoutMs,
      cancelSignal: options.signal,
      killSignal: 'SIGKILL',
      stripFinalNewline: false,
    })
    const exitCode = result.exitCode ?? -1
    return {
      exitCode,
      stdout: String(result.stdout ?? ''),
      stderr: String(result.stderr ?? ''),
      unreachable: exitCode === 255,
      timedOut: result.timedOut ?? false,
    }
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.used.values()].map((host) =>
        execa(this.options.program ?? 'ssh', ['-O', 'exit', ...this.args(host)], {reject: false, stdin: 'ignore', timeout: 10_000}),
      ),
    )
    this.used.clear()
    rmSync(this.controlDir, {recursive: true, force: true})
  }
}
