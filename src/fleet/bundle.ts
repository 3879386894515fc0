import {createHash} from 'node:crypto'
import {createReadStream, existsSync} from 'node:fs'
import path from 'node:path'

import {BadInputError} from '../errors.js'
import {packageRoot, packageVersion} from '../system/paths.js'
import type {FleetHost} from './inventory.js'
import type {RemoteRun, Transport} from './transport.js'

/** The bundle `npm run bundle` made (scripts/bundle.mjs), which diag copies to hosts without it. */
export interface LocalBundle {
  file: string
  version: string
  sha256: string
}

export function defaultBundlePath(version = packageVersion()): string {
  return path.join(packageRoot, 'bundle', `diag-${version}-linux-x64.tar.gz`)
}

export async function localBundle(file = defaultBundlePath()): Promise<LocalBundle> {
  if (!existsSync(file)) throw new BadInputError(`no bundle at ${file}: make it with \`npm run bundle\`, or name one with --bundle`)
  const version = /diag-([^/]+)-linux-x64\.tar\.gz$/.exec(file)?.[1]
  if (!version) throw new BadInputError(`--bundle ${file} is not named diag-<version>-linux-x64.tar.gz`)
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return {file, version, sha256: hash.digest('hex')}
}

/** Where a host keeps the bundle, unpacked: one directory per diag version. */
export const remoteDir = (version: string) => `/var/tmp/diag-${version}`
export const remoteDiag = (version: string) => `${remoteDir(version)}/bin/diag`

// /var/tmp is writable by every user: a directory is trusted only if it is a real directory, owned
// by the user diag logs in as, and writable by no one else (else a local user could plant a diag
// that root then runs). The hash file says which bundle it holds.
const TRUSTED = (dir: string) => `[ -d ${dir} ] && [ ! -L ${dir} ] && [ -O ${dir} ] && [ -z "$(find ${dir} -prune \\( -perm -020 -o -perm -002 \\))" ]`

/** Prints `<machine> <hash of the bundle there, or none>`. */
export function checkScript(version: string): string {
  const dir = remoteDir(version)
  return `if ${TRUSTED(dir)}; then h=$(cat ${dir}/.bundle-sha256 2>/dev/null || echo none); else h=none; fi; echo "$(uname -m) $h"`
}

/**
 * Unpacks the bundle from stdin into a new directory and moves it into place, under a lock on
 * /var/tmp itself (no lock file another user could plant), so that two aliases of one host do not
 * replace each other's copy mid-run; a copy already there with the same hash is kept.
 */
export function installScript(version: string, sha256: string): string {
  const dir = remoteDir(version)
  return [
    'set -e',
    'umask 022',
    'exec 9</var/tmp',
    'if command -v flock >/dev/null 2>&1; then flock 9; fi',
    `if ${TRUSTED(dir)} && [ "$(cat ${dir}/.bundle-sha256 2>/dev/null)" = ${sha256} ]; then cat >/dev/null; echo present; exit 0; fi`,
    `new=$(mktemp -d ${dir}.new.XXXXXX)`,
    `trap 'rm -rf "$new"' EXIT`,
    'tar -xzf - -C "$new" --strip-components=1 --no-same-owner',
    'chmod 755 "$new"',
    `echo ${sha256} > "$new/.bundle-sha256"`,
    `old=${dir}.old.$$`,
    `if [ -e ${dir} ] || [ -L ${dir} ]; then mv ${dir} "$old"; fi`,
    `mv "$new" ${dir}`,
    'rm -rf "$old"',
    'echo installed',
  ].join('\n')
}

export class HostError extends Error {
  constructor(
    readonly stage: 'connect' | 'install' | 'run',
    message: string,
  ) {
    super(message)
  }
}

/** The last lines of what a remote command printed on stderr, as an error's reason. */
export function remoteReason(run: RemoteRun, what: string): string {
  if (run.timedOut) return `${what} timed out`
  const text = run.stderr.trim().split('\n').filter((line) => !/^Warning: Permanently added/.test(line)).slice(-2).join('; ')
  return text || `${what} exited with ${run.exitCode}`
}

export interface EnsureOptions {
  timeoutMs: number
  signal?: AbortSignal
  /** Told when the bundle is being copied (for progress). */
  onCopy?: () => void
}

/** Makes sure the host has this bundle; returns the path of its diag, and whether it was copied. */
export async function ensureBundle(transport: Transport, host: FleetHost, bundle: LocalBundle, options: EnsureOptions): Promise<{diag: string; copied: boolean}> {
  const check = await transport.run(host, checkScript(bundle.version), {timeoutMs: options.timeoutMs, signal: options.signal})
  if (check.unreachable || check.timedOut) throw new HostError('connect', remoteReason(check, 'ssh'))
  if (check.exitCode !== 0) throw new HostError('connect', remoteReason(check, 'the check for diag'))
  const [machine, hash] = check.stdout.trim().split(/\s+/)
  if (machine !== 'x86_64') throw new HostError('install', `the bundle is for x86_64 (linux-x64); this host is ${machine}`)
  if (hash === bundle.sha256) return {diag: remoteDiag(bundle.version), copied: false}
  options.onCopy?.()
  const install = await transport.run(host, installScript(bundle.version, bundle.sha256), {inputFile: bundle.file, timeoutMs: options.timeoutMs, signal: options.signal})
  if (install.unreachable) throw new HostError('connect', remoteReason(install, 'ssh'))
  if (install.exitCode !== 0 || install.timedOut) throw new HostError('install', `copying the bundle failed: ${remoteReason(install, 'the install')}`)
  // Another alias of the same host may have installed it while this copy was on its way.
  return {diag: remoteDiag(bundle.version), copied: install.stdout.trim() === 'installed'}
}
