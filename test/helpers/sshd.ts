import {copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import path from 'node:path'

import {type ResultPromise, execa} from 'execa'

/**
 * What the fleet tests share: ssh keys and an sshd of the test's own (Debian's openssh-server) on
 * 127.0.0.1, an ssh client config that trusts only the hosts the test made, and ways to see what
 * is still running here afterwards.
 */
export const SSHD = '/usr/sbin/sshd'

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const {port} = server.address() as {port: number}
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
}

/** Processes whose command line mentions `text` (other than this test's own). */
export function processesWith(text: string): string[] {
  const found: string[] = []
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
      if (cmdline.includes(text) && Number(pid) !== process.pid) found.push(`${pid}: ${cmdline}`)
    } catch {
      // gone meanwhile
    }
  }
  return found
}

/** The processes whose parent is `pid`. */
export const children = (pid: number) =>
  processesWith('').filter((line) => {
    try {
      return readFileSync(`/proc/${line.split(':')[0]}/stat`, 'utf8').split(') ')[1].split(' ')[1] === String(pid)
    } catch {
      return false
    }
  })

/** Makes `host_key` and `user_key` (ed25519, no passphrase) in `work`, and authorized_keys for the user key. */
export async function makeSshKeys(work: string): Promise<{hostKey: string; userKey: string; authorizedKeys: string}> {
  for (const key of ['host_key', 'user_key']) await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'diag-fleet-test', '-f', path.join(work, key)])
  copyFileSync(path.join(work, 'user_key.pub'), path.join(work, 'authorized_keys'))
  return {hostKey: path.join(work, 'host_key'), userKey: path.join(work, 'user_key'), authorizedKeys: path.join(work, 'authorized_keys')}
}

/**
 * Writes `ssh_config` (root, the user key, strict host key checking) and `known_hosts`, in which
 * the test's host key is the key of every [address]:port given.
 */
export function writeSshClientConfig(work: string, endpoints: {address: string; port: number}[]): string {
  const hostKey = readFileSync(path.join(work, 'host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ')
  writeFileSync(path.join(work, 'known_hosts'), endpoints.map(({address, port}) => `[${address}]:${port} ${hostKey}\n`).join(''))
  const config = path.join(work, 'ssh_config')
  writeFileSync(config, ['Host *', `  IdentityFile ${work}/user_key`, '  IdentitiesOnly yes', `  UserKnownHostsFile ${work}/known_hosts`, '  StrictHostKeyChecking yes', '  User root', ''].join('\n'))
  return config
}

/** ssh through the test's client config (as root, or `user`); never throws. */
export function sshTo(config: string, port: number, command: string, options: {timeout?: number; user?: string} = {}) {
  return execa('ssh', ['-F', config, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=30', '-p', String(port), ...(options.user ? ['-l', options.user] : []), '127.0.0.1', command], {
    reject: false,
    stdin: 'ignore',
    timeout: options.timeout ?? 60_000,
  })
}

/** Waits until `ssh ... true` works through this port, or throws with ssh's last complaint. */
export async function waitForSsh(config: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const probe = await sshTo(config, port, 'true', {timeout: Math.min(60_000, timeoutMs)})
    if (probe.exitCode === 0) return
    if (Date.now() > deadline) throw new Error(`no ssh on port ${port}: ${String(probe.stderr)}`)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

export interface TestSshd {
  port: number
  process: ResultPromise
  stop(): Promise<void>
}

/** Where the test's sshd looks for a user's authorized keys besides the shared file, in the user's home. */
export const USER_AUTHORIZED_KEYS = '.ssh/diag-test-authorized_keys'

/**
 * Starts sshd on 127.0.0.1 on a free port with the keys of makeSshKeys, root login by key only;
 * another user logs in with the keys in USER_AUTHORIZED_KEYS of its home (sshd reads them as that
 * user, who cannot read the test's own directory). Call writeSshClientConfig first: it waits
 * until a login works.
 */
export async function startSshd(work: string): Promise<TestSshd> {
  const port = await freePort()
  // sshd needs its privilege separation directory, which only the ssh service makes.
  let madeRunSshd = false
  if (!existsSync('/run/sshd')) {
    mkdirSync('/run/sshd', {mode: 0o755})
    madeRunSshd = true
  }
  writeFileSync(
    path.join(work, 'sshd_config'),
    [`ListenAddress 127.0.0.1`, `Port ${port}`, `HostKey ${work}/host_key`, `AuthorizedKeysFile ${work}/authorized_keys %h/${USER_AUTHORIZED_KEYS}`, 'StrictModes no', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin prohibit-password', 'UsePAM no', `PidFile ${work}/sshd.pid`, ''].join('\n'),
  )
  const sshd = execa(SSHD, ['-D', '-e', '-f', path.join(work, 'sshd_config')], {reject: false})
  return {
    port,
    process: sshd,
    async stop() {
      sshd.kill('SIGTERM')
      await sshd
      if (madeRunSshd) rmdirSync('/run/sshd')
    },
  }
}
