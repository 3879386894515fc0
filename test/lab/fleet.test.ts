import {copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {FleetCapabilities} from '../../src/fleet/matrix.js'
import type {FleetRun} from '../../src/fleet/merge.js'
import type {FleetRunbook} from '../../src/fleet/runbook.js'
import {diagJson, startDiag} from '../helpers/cli.js'
import {configured, expectedFromConfig} from '../helpers/ground-truth.js'
import {isRoot} from '../helpers/kernel-state.js'
import {schemaErrors} from '../helpers/schema.js'
import {SSHD, type TestSshd, freePort, makeSshKeys, processesWith, sshTo, startSshd, waitForSsh, writeSshClientConfig} from '../helpers/sshd.js'
import {WORKLOAD, workloadBuilt} from '../helpers/workload.js'
import {LAB_KERNELS, type LabGuest, guestUnavailable, labConfig, startGuest} from './lab.js'

/**
 * `diag fleet` across real kernels: every lab kernel (DIAG_LAB_KERNELS picks fewer) boots under
 * qemu as a guest on QEMU user networking, with sshd on a port of 127.0.0.1, and no Node.js and no
 * diag; this host joins them through an sshd of the test's own, under two names. The inventory is
 * Ansible INI. Every guest runs at once (a fleet), so run this file under the lab lock.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const {version} = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}
const TEST_VERSION = `${version}-fleetlab.${process.pid}`
const BUNDLED = `/var/tmp/diag-${TEST_VERSION}`
// The bundle's diag while it runs on a guest (the bracket keeps this script's own text from matching).
const RUNNING_DIAG = `for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep '${BUNDLED}/[a-z]' || true`

const kernels = Object.values(LAB_KERNELS).filter((kernel) => !guestUnavailable(kernel))
const skipped = Object.values(LAB_KERNELS).flatMap((kernel) => (guestUnavailable(kernel) ? [`${kernel.name}: ${guestUnavailable(kernel)}`] : []))
const missing = !isRoot ? 'needs root' : !existsSync(SSHD) ? `no ${SSHD} (install openssh-server)` : kernels.length === 0 ? `no lab kernel can boot as a guest here (${skipped.join('; ')})` : undefined
if (skipped.length > 0 && !missing) console.warn(`fleet lab: left out ${skipped.join('; ')}`)

// Emulated guests answer slowly: an ssh handshake takes seconds, the copy and `node` start longer.
const FLEET_FLAGS = ['--connect-timeout', '60', '--timeout', '900']
const HERE = ['this-host', 'localhost']

describe.skipIf(missing)(`diag fleet over ssh to lab kernels booted as guests${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let work: string
  let sshd: TestSshd
  let config: string
  const guests: LabGuest[] = []
  const args = (command: string) => ['fleet', command, '--hosts', path.join(work, 'inventory.ini'), '--ssh-config', config, '--bundle', path.join(work, `diag-${TEST_VERSION}-linux-x64.tar.gz`), ...FLEET_FLAGS]
  const hostNames = () => [...kernels.map((k) => k.name), ...HERE]

  beforeAll(async () => {
    mkdirSync(tmpdir(), {recursive: true})
    work = mkdtempSync(path.join(tmpdir(), 'diag-fleetlab-test-'))
    const {hostKey, authorizedKeys} = await makeSshKeys(work)
    const ports = await Promise.all(kernels.map(() => freePort()))
    // Each guest is kept as it comes up, so that afterAll powers it off should another fail.
    const booting = Promise.all(kernels.map(async (kernel, i) => guests.push(await startGuest(kernel, {network: {sshPort: ports[i], hostKey, authorizedKeys}}))))
    // The bundle is made while the guests boot.
    await execa('node', [path.join(ROOT, 'scripts/bundle.mjs'), '--out', work])
    copyFileSync(path.join(work, `diag-${version}-linux-x64.tar.gz`), path.join(work, `diag-${TEST_VERSION}-linux-x64.tar.gz`))
    sshd = await startSshd(work)
    config = writeSshClientConfig(work, [...ports, sshd.port].map((port) => ({address: '127.0.0.1', port})).concat({address: 'localhost', port: sshd.port}))
    await booting
    guests.sort((a, b) => kernels.indexOf(a.kernel) - kernels.indexOf(b.kernel))
    const inventory = [
      '[lab]',
      ...guests.map((g) => `${g.kernel.name} ansible_host=127.0.0.1 ansible_port=${g.sshPort} ansible_user=root`),
      '',
      '[here]',
      `this-host ansible_host=127.0.0.1 ansible_port=${sshd.port}`,
      `localhost ansible_port=${sshd.port}`,
      '',
      '[all:vars]',
      'ansible_user=root',
      '',
    ]
    writeFileSync(path.join(work, 'inventory.ini'), inventory.join('\n'))
    await Promise.all([...guests.map((g) => waitForSsh(config, g.sshPort, 300_000)), waitForSsh(config, sshd.port, 10_000)])
  }, 1_200_000)

  afterAll(async () => {
    await Promise.all(guests.map((g) => g.powerOff()))
    await sshd?.stop()
    rmSync(BUNDLED, {recursive: true, force: true})
    if (work) rmSync(work, {recursive: true, force: true})
  }, 180_000)

  it('the guests are bare hosts: no node on PATH, no diag', async () => {
    for (const guest of guests) {
      const probe = await sshTo(config, guest.sshPort, 'command -v node; command -v diag; ls /var/tmp; uname -r')
      expect(probe.exitCode, `${guest.kernel.name}: ${probe.stderr}`).toBe(0)
      expect(String(probe.stdout).trim(), guest.kernel.name).toBe(guest.release)
    }
  }, 300_000)

  it('fleet capabilities: copies the bundle to every host, each kernel reports what its config says, the matrix groups hosts by profile', async () => {
    const run = await diagJson<FleetCapabilities>(args('capabilities'), {timeout: 1_100_000})
    const consoles = guests.map((g) => `--- ${g.kernel.name}\n${g.console().slice(-1500)}`).join('\n')
    expect(run.exitCode, `${run.stderr}\n${consoles}`).toBe(0)
    const fleet = run.json
    expect(fleet.errors).toEqual([])
    expect(fleet.hosts.map((h) => [h.name, h.ok])).toEqual(hostNames().map((name) => [name, true]))
    for (const host of fleet.hosts) {
      if (!host.ok) continue
      expect(schemaErrors('capabilities', host.report)).toBe('')
      // Not one host had this diag: each guest got a copy, and one of this host's two names did.
      if (!HERE.includes(host.name)) expect(host.copied, host.name).toBe(true)
    }
    expect(fleet.hosts.filter((h) => h.ok && HERE.includes(h.name) && h.copied).length).toBeGreaterThanOrEqual(1)

    for (const guest of guests) {
      const host = fleet.hosts.find((h) => h.name === guest.kernel.name)
      if (!host?.ok) continue
      expect(host.report.host.kernel?.release).toBe(guest.release)
      const kernelConfig = labConfig(guest.kernel)
      const status = new Map(host.report.capabilities.map((c) => [c.name, c]))
      const expectations: [string, boolean][] = [
        ...expectedFromConfig(kernelConfig),
        ['function-tracer', configured(kernelConfig, 'FUNCTION_TRACER', 'DYNAMIC_FTRACE')],
        ['bpf-tp-btf', configured(kernelConfig, 'BPF_SYSCALL', 'BPF_EVENTS', 'DEBUG_INFO_BTF')],
      ]
      for (const [name, expected] of expectations) expect(status.get(name)?.status, `${guest.kernel.name} ${name}: ${status.get(name)?.detail}`).toBe(expected ? 'available' : 'unavailable')
      // Over ssh it is the bundle's diag, with the bundle's runtime, that answered.
      const there = await sshTo(config, guest.sshPort, `cat ${BUNDLED}/.bundle-sha256; command -v node || echo no-node`)
      expect(String(there.stdout).split('\n').slice(0, 2)).toEqual([fleet.bundle.sha256, 'no-node'])
    }

    // One group per kernel (the lab kernels differ, and differ from this host's), and this
    // host's two names in one.
    const groupOf = (name: string) => fleet.groups.find((g) => g.hosts.includes(name))
    expect(groupOf('this-host')?.hosts).toEqual(HERE)
    for (const guest of guests) expect(groupOf(guest.kernel.name)).toMatchObject({hosts: [guest.kernel.name], release: guest.release})
    expect(fleet.groups).toHaveLength(guests.length + 1)
  }, 1_200_000)

  it.skipIf(!workloadBuilt)('fleet run syscount: each host counts its own workload, the merged count is theirs added', async () => {
    const calls = 2000
    const run = await diagJson<FleetRun>([...args('run'), 'syscount', '--', '--syscall', 'getppid', '--', WORKLOAD, 'getppid', String(calls)], {timeout: 1_100_000})
    expect(run.exitCode, run.stderr).toBe(0)
    const fleet = run.json
    expect(fleet.errors).toEqual([])
    const getppid = (data: FleetRun['merged']) => (data?.kind === 'counts' ? data.rows.find((r) => r.key === 'getppid')?.count : undefined)
    const counts = fleet.hosts.map((h) => [h.name, h.ok ? getppid(h.data) : h.error.message])
    expect(counts).toEqual(hostNames().map((name) => [name, calls]))
    expect(getppid(fleet.merged)).toBe(calls * fleet.hosts.length)
  }, 1_200_000)

  it.skipIf(!workloadBuilt)("fleet run RUNBOOK: each kernel runs the local runbook with its own diag (busybox's sh on the guests) and sends back its report and heat map", async () => {
    const calls = 2000
    const runbook = path.join(work, 'fleet-look.yaml')
    writeFileSync(
      runbook,
      [
        'name: fleet-look',
        'steps:',
        '  - name: getppid',
        '    tool: syscount',
        '    flags: {syscall: getppid}',
        `    command: [${WORKLOAD}, getppid, "${calls}"]`,
        '    checks:',
        `      - expect: count(syscall == "getppid") == ${calls}`,
        '  - name: disks',
        '    tool: biolatency',
        '    duration: 1',
        `    heatmap: ${path.join(work, 'disk.svg')}`,
        '',
      ].join('\n'),
    )
    const run = await diagJson<FleetRunbook>([...args('run'), runbook, '--junit', path.join(work, 'fleet.xml')], {timeout: 1_100_000})
    const fleet = run.json
    expect(fleet.errors, run.stderr).toEqual([])
    expect(fleet.hosts.map((h) => h.name)).toEqual(hostNames())
    for (const host of fleet.hosts) {
      if (!host.ok) continue
      const [getppid, disks] = host.report.steps
      expect(getppid.checks.map((c) => [c.status, c.measured.map((m) => m.value)]), host.name).toEqual([['pass', [calls]]])
      // biolatency runs where a backend can (else the host's verdict is incomplete, never a pass).
      expect(host.verdict, host.name).toBe(disks.status === 'ran' ? 'pass' : 'incomplete')
      if (disks.status === 'ran') expect(readFileSync(path.join(work, `disk.${host.name}.svg`), 'utf8'), host.name).toMatch(/<svg[\s>]/)
    }
    expect(run.exitCode, run.stderr).toBe(fleet.verdict === 'pass' ? 0 : 9)
    for (const guest of guests) {
      const left = await sshTo(config, guest.sshPort, 'ls /tmp')
      expect(String(left.stdout), guest.kernel.name).not.toContain('diag-runbook.')
    }
  }, 1_200_000)

  it.skipIf(!workloadBuilt)('a guest killed mid-run (qemu SIGKILL) is an error row; the others complete, and nothing is left running on them', async () => {
    const victim = guests.at(-1)!
    const fleet = startDiag([...args('run'), 'syscount', '--json', '--', '-d', '30'])
    let output = ''
    fleet.stderr?.on('data', (chunk: Buffer) => (output += chunk))
    try {
      // Kill it once diag runs there.
      const deadline = Date.now() + 600_000
      for (;;) {
        const running = await sshTo(config, victim.sshPort, RUNNING_DIAG)
        if (String(running.stdout).includes('syscount')) break
        if (Date.now() > deadline || fleet.exitCode !== null) throw new Error(`diag never ran on ${victim.kernel.name}: ${output}`)
        await new Promise((resolve) => setTimeout(resolve, 1000))
      }
      victim.kill()
    } catch (error) {
      fleet.kill('SIGTERM')
      throw error
    }
    const ended = await fleet
    // 9: a host did not answer.
    expect(ended.exitCode, `${output}`).toBe(9)
    const run = JSON.parse(String(ended.stdout)) as FleetRun
    expect(run.hosts.map((h) => [h.name, h.ok])).toEqual(hostNames().map((name) => [name, name !== victim.kernel.name]))
    expect(run.errors).toEqual([{host: victim.kernel.name, stage: expect.stringMatching(/^(connect|run)$/), message: expect.any(String)}])
    for (const guest of guests.filter((g) => g !== victim)) {
      const left = await sshTo(config, guest.sshPort, RUNNING_DIAG)
      expect(String(left.stdout), guest.kernel.name).toBe('')
    }
    expect(processesWith(`${BUNDLED}/`)).toEqual([])
  }, 1_200_000)
})
