import {copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {FleetCapabilities} from '../../src/fleet/matrix.js'
import type {FleetRun} from '../../src/fleet/merge.js'
import {diag, diagJson, startDiag} from '../helpers/cli.js'
import {type KernelState, isRoot, kernelState} from '../helpers/kernel-state.js'
import {schemaErrors} from '../helpers/schema.js'
import {SSHD, type TestSshd, children, freePort, makeSshKeys, processesWith, startSshd, waitForSsh, writeSshClientConfig} from '../helpers/sshd.js'
import {WORKLOAD, workloadBuilt} from '../helpers/workload.js'

/**
 * `diag fleet capabilities` for real: this file starts its own sshd (Debian's openssh-server) on
 * 127.0.0.1, on a free port, with a host key and an authorized key it makes in a temporary
 * directory, and asks a fleet of three: this host under two names (127.0.0.1 and localhost) and
 * one closed port. The bundle goes to /var/tmp under a version of the test's own, removed after.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const {version} = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}
const TEST_VERSION = `${version}-fleettest.${process.pid}`

describe.skipIf(!isRoot || !existsSync(SSHD))(`diag fleet capabilities over ssh to an sshd of the test's own (needs root${existsSync(SSHD) ? '' : '; skipped: no /usr/sbin/sshd, install openssh-server'})`, () => {
  let work: string
  let sshd: TestSshd
  let port: number
  let closedPort: number
  let before: KernelState
  const args = (command = 'capabilities') => ['fleet', command, '--hosts', path.join(work, 'inventory.yaml'), '--ssh-config', path.join(work, 'ssh_config'), '--bundle', path.join(work, `diag-${TEST_VERSION}-linux-x64.tar.gz`), '--connect-timeout', '5']

  beforeAll(async () => {
    before = await kernelState()
    work = mkdtempSync(path.join(tmpdir(), 'diag-fleet-test-'))
    await execa('node', [path.join(ROOT, 'scripts/bundle.mjs'), '--out', work])
    copyFileSync(path.join(work, `diag-${version}-linux-x64.tar.gz`), path.join(work, `diag-${TEST_VERSION}-linux-x64.tar.gz`))
    await makeSshKeys(work)
    sshd = await startSshd(work)
    port = sshd.port
    closedPort = await freePort()
    const config = writeSshClientConfig(work, [{address: '127.0.0.1', port}, {address: 'localhost', port}])
    writeFileSync(
      path.join(work, 'inventory.yaml'),
      `all:\n  children:\n    here:\n      hosts:\n        by-address: {ansible_host: 127.0.0.1, ansible_port: ${port}}\n        by-name: {ansible_host: localhost, ansible_port: ${port}}\n    gone:\n      hosts:\n        closed-port: {ansible_host: 127.0.0.1, ansible_port: ${closedPort}}\n`,
    )
    await waitForSsh(config, port, 10_000)
  }, 120_000)

  afterAll(async () => {
    await sshd?.stop()
    rmSync(`/var/tmp/diag-${TEST_VERSION}`, {recursive: true, force: true})
    if (work) rmSync(work, {recursive: true, force: true})
    expect(await kernelState()).toEqual(before)
  })

  it('copies the bundle, and reports both names of this host as one profile and the closed port as an error', async () => {
    const run = await diagJson<FleetCapabilities>(args())
    expect(run.exitCode, run.stderr).toBe(0)
    const fleet = run.json
    expect(fleet.hosts.map((h) => [h.name, h.ok])).toEqual([['by-address', true], ['by-name', true], ['closed-port', false]])
    for (const host of fleet.hosts) if (host.ok) expect(schemaErrors('capabilities', host.report)).toBe('')
    expect(fleet.groups).toHaveLength(1)
    expect(fleet.groups[0].hosts).toEqual(['by-address', 'by-name'])
    expect(fleet.errors).toEqual([{host: 'closed-port', stage: 'connect', message: expect.stringContaining('Connection refused')}])
    // The two names are one host: one copy lands, the other finds it there (or installs the same).
    expect(fleet.hosts.filter((h) => h.ok && h.copied).length).toBeGreaterThanOrEqual(1)
    expect(readFileSync(`/var/tmp/diag-${TEST_VERSION}/.bundle-sha256`, 'utf8').trim()).toBe(fleet.bundle.sha256)
    expect(run.stderr).toContain('[closed-port] connect failed')
  }, 180_000)

  it('then finds the bundle there and copies nothing; prints the matrix as text', async () => {
    const run = await diag(args(), {timeout: 180_000})
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/^2 hosts: \S+ with BPF, BTF, .*: syscount bpf-/m)
    expect(run.stdout).toContain('  by-address by-name')
    expect(run.stdout).toMatch(/^ {2}closed-port: connect failed: .*Connection refused/m)
    expect(run.stderr).not.toContain('copying the bundle')
  }, 180_000)

  it.skipIf(!workloadBuilt)('fleet run syscount: both names at once, each counting its own workload; the merged count is theirs added', async () => {
    const calls = 20_000
    const run = await diagJson<FleetRun>([...args('run'), 'syscount', '--', '--syscall', 'getppid', '--', WORKLOAD, 'getppid', String(calls)])
    expect(run.exitCode, run.stderr).toBe(0)
    const fleet = run.json
    expect(fleet.hosts.map((h) => [h.name, h.ok])).toEqual([['by-address', true], ['by-name', true], ['closed-port', false]])
    const getppid = (data: FleetRun['merged']) => (data?.kind === 'counts' ? data.rows.find((r) => r.key === 'getppid')?.count : undefined)
    for (const host of fleet.hosts) if (host.ok) expect(getppid(host.data), host.name).toBe(calls)
    expect(getppid(fleet.merged)).toBe(2 * calls)
    expect(fleet.errors).toEqual([{host: 'closed-port', stage: 'connect', message: expect.stringContaining('Connection refused')}])
    const text = await diag([...args('run'), 'syscount', '--', '--syscall', 'getppid', '--', WORKLOAD, 'getppid', '100'], {timeout: 180_000})
    expect(text.exitCode, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/^SYSCALL +TOTAL +by-address +by-name$/m)
    expect(text.stdout).toMatch(/^getppid +200 +100 +100$/m)
  }, 180_000)

  it.skipIf(!workloadBuilt)('an interrupted fleet run stops diag on every host: the end of the ssh session stops it there, and it undoes its tracing', async () => {
    const bundled = `/var/tmp/diag-${TEST_VERSION}/`
    const tracing = () => processesWith(bundled).filter((line) => line.includes("bundle-run.mjs syscount"))
    const fleet = startDiag([...args('run'), 'syscount', '--', '--syscall', 'getppid'])
    try {
      const deadline = Date.now() + 60_000
      while (tracing().length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200))
      expect(tracing()).toHaveLength(2)
      await new Promise((resolve) => setTimeout(resolve, 1000))
    } finally {
      fleet.kill('SIGTERM')
    }
    const ended = await fleet
    expect(ended.exitCode).toBe(130)
    expect(String(ended.stderr)).toContain('interrupted: diag there was stopped with its ssh session')
    const gone = Date.now() + 15_000
    while (processesWith(bundled).length > 0 && Date.now() < gone) await new Promise((resolve) => setTimeout(resolve, 200))
    expect(processesWith(bundled)).toEqual([])
  }, 120_000)

  it('leaves nothing running: no ssh master, no session on the sshd, no diag on the host', async () => {
    // sshd ends a session's process shortly after its client is gone.
    const deadline = Date.now() + 5000
    while (children(sshd.process.pid!).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
    expect(children(sshd.process.pid!)).toEqual([])
    expect(processesWith('diag-ssh-')).toEqual([])
    expect(processesWith(`/var/tmp/diag-${TEST_VERSION}`)).toEqual([])
  })
})
