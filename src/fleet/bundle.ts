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

/** What the install writes in the bundle's directory: its hash, which also marks the directory as diag's own. */
export const MARKER = '.bundle-sha256'

/**
 * The sudoers rule a login user needs for --become: diag's launcher in any version's directory,
 * as root, without a password (sudoers' `*` matches no `/`). diag runs nothing else through sudo.
 */
export const sudoersRule = (user: string) => `${user} ALL=(root) NOPASSWD: /var/tmp/diag-*/bin/diag`

/**
 * Prints `<machine> <hash of the bundle there, or none>`; with `become`, a second line says how
 * diag would become root there: `root` (it is), `sudo USER` (sudo -n allows it), `no-sudo USER`,
 * or `refused USER: <what sudo -n said>`. sudo is asked (`sudo -n -l`, which runs nothing) about
 * the very command diag runs, the launcher, when the bundle is there; before the first copy, when
 * there is no launcher to name yet, only whether it has any rule without a password for the user
 * (so that a host where sudo wants a password fails before the copy). Never `sudo -n true`: a rule
 * that allows only diag's launcher refuses that.
 */
export function checkScript(version: string, become = false): string {
  const dir = remoteDir(version)
  const diag = remoteDiag(version)
  const check = `if ${TRUSTED(dir)}; then h=$(cat ${dir}/${MARKER} 2>/dev/null || echo none); else h=none; fi; echo "$(uname -m) $h"`
  if (!become) return check
  return [
    check,
    'if [ "$(id -u)" = 0 ]; then echo root',
    'elif ! command -v sudo >/dev/null 2>&1; then echo "no-sudo $(id -un)"',
    'else',
    `  if [ "$h" != none ] && [ -x ${diag} ]; then set -- ${diag}; else set --; fi`,
    '  if m=$(sudo -n -l "$@" 2>&1 >/dev/null </dev/null); then echo "sudo $(id -un)"',
    // sudo -l COMMAND that is not allowed, for a user with other rules, fails saying nothing.
    '  else echo "refused $(id -un): ${m:-not allowed to run $*}" | tr "\\n" " "; echo; fi',
    'fi',
  ].join('\n')
}

/** How `--become` runs diag on a host, from the second line of checkScript's answer. */
export function becomeFrom(line: string | undefined): {sudo: boolean; user?: string} {
  const [status, ...rest] = (line ?? '').trim().split(' ')
  if (status === 'root') return {sudo: false}
  if (status === 'sudo') return {sudo: true, user: rest[0]}
  const user = rest[0]?.replace(/:$/, '') ?? 'the login user'
  if (status === 'no-sudo') throw new HostError('become', `--become: ${user} is not root here and there is no sudo; log in as root, or install sudo with the rule \`${sudoersRule(user)}\``)
  if (status === 'refused') {
    const said = rest.slice(1).join(' ').trim()
    throw new HostError('become', sudoRefused(user, said))
  }
  throw new HostError('become', `--become: the check said nothing of root or sudo (${line ?? 'no answer'})`)
}

/** The `become` error for what sudo -n said when it would not run diag as root. */
export function sudoRefused(user: string, said: string): string {
  const password = /password/i.test(said)
  return `--become: sudo -n refused ${user}${said ? ` (sudo: ${said.replace(/^sudo: /, '')})` : ''}; ${password ? 'it needs a password, which diag never types: ' : ''}give ${user} the rule \`${sudoersRule(user)}\` (in /etc/sudoers.d), or log in as root`
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
    // The bundles of other versions diag installed here (its marker in them, owned by this user,
    // real directories): the new one is in place, they would only fill /var/tmp. A directory of
    // that name without the marker, or someone else's, is not diag's to remove.
    'for other in /var/tmp/diag-*; do',
    `  [ "$other" = ${dir} ] && continue`,
    '  case "$other" in *.new.*) continue;; esac',
    `  if [ -d "$other" ] && [ ! -L "$other" ] && [ -O "$other" ] && [ -f "$other/${MARKER}" ] && [ ! -L "$other/${MARKER}" ]; then`,
    '    rm -rf "$other" && echo "removed $other"',
    '  fi',
    'done',
  ].join('\n')
}

/** Where a host's work stopped: reaching it, becoming root there, copying the bundle, running diag. */
export type HostStage = 'connect' | 'become' | 'install' | 'run'

export class HostError extends Error {
  constructor(
    readonly stage: HostStage,
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
  /** Run diag as root: through `sudo -n` where the login user is not root (--become). */
  become?: boolean
}

export interface Installed {
  /** The host's diag, and the command that runs it (`sudo -n -- DIAG` under --become as another user). */
  diag: string
  sudo: boolean
  /** The login user sudo runs diag for (under --become, when not root). */
  user?: string
  copied: boolean
  /** Bundles of other versions the install removed. */
  removed: string[]
}

/** Makes sure the host has this bundle (and, with become, root); says how to run its diag, and whether it was copied. */
export async function ensureBundle(transport: Transport, host: FleetHost, bundle: LocalBundle, options: EnsureOptions): Promise<Installed> {
  const check = await transport.run(host, checkScript(bundle.version, options.become), {timeoutMs: options.timeoutMs, signal: options.signal})
  if (check.unreachable || check.timedOut) throw new HostError('connect', remoteReason(check, 'ssh'))
  if (check.exitCode !== 0) throw new HostError('connect', remoteReason(check, 'the check for diag'))
  const [first, second] = check.stdout.trim().split('\n')
  const [machine, hash] = first.split(/\s+/)
  const {sudo, user} = options.become ? becomeFrom(second) : {sudo: false, user: undefined}
  if (machine !== 'x86_64') throw new HostError('install', `the bundle is for x86_64 (linux-x64); this host is ${machine}`)
  if (hash === bundle.sha256) return {diag: remoteDiag(bundle.version), sudo, user, copied: false, removed: []}
  options.onCopy?.()
  const install = await transport.run(host, installScript(bundle.version, bundle.sha256), {inputFile: bundle.file, timeoutMs: options.timeoutMs, signal: options.signal})
  if (install.unreachable) throw new HostError('connect', remoteReason(install, 'ssh'))
  if (install.exitCode !== 0 || install.timedOut) throw new HostError('install', `copying the bundle failed: ${remoteReason(install, 'the install')}`)
  const lines = install.stdout.trim().split('\n')
  const removed = lines.filter((line) => line.startsWith('removed ')).map((line) => line.slice('removed '.length))
  // Another alias of the same host may have installed it while this copy was on its way.
  return {diag: remoteDiag(bundle.version), sudo, user, copied: lines[0] === 'installed', removed}
}
