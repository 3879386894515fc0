import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {type Server, type Socket, createServer} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {BadInputError, EXIT, RUNBOOK_EXIT} from '../../src/errors.js'
import {type LocalBundle, becomeFrom, checkScript, installScript} from '../../src/fleet/bundle.js'
import {type HostOutcome, onEveryHost} from '../../src/fleet/fleet.js'
import {type FleetHost, parseInventory} from '../../src/fleet/inventory.js'
import {type FleetCapabilities, fleetCapabilities, renderFleetCapabilities} from '../../src/fleet/matrix.js'
import {fleetRun, parseToolOutput, renderFleetRun} from '../../src/fleet/merge.js'
import type {RemoteRun, RunOptions, Transport} from '../../src/fleet/transport.js'
import {type CapabilitiesReport, capabilitiesReport} from '../../src/plan/report.js'
import {parseKernelConfig} from '../../src/probe/kernel-config.js'
import {probeHost} from '../../src/probe/probe.js'
import {PLAIN} from '../../src/render/style.js'
import type {ToolResult} from '../../src/result/model.js'
import {UndoLog} from '../../src/system/undo.js'
import {diag, diagJson} from '../helpers/cli.js'
import {freePort} from '../helpers/sshd.js'

describe('fleet inventories', () => {
  const pick = (hosts: FleetHost[]) => hosts.map(({name, destination, user, port}) => ({name, destination, user, port}))

  it('a plain list: [user@]host[:port] per line, comments and blank lines skipped, IPv6 in brackets', () => {
    const {format, hosts} = parseInventory('# fleet\nweb1\nops@db1.example.com:2222\n\n[::1]:22\nweb1\n', 'list')
    expect(format).toBe('list')
    expect(pick(hosts)).toEqual([
      {name: 'web1', destination: 'web1', user: undefined, port: undefined},
      {name: 'ops@db1.example.com:2222', destination: 'db1.example.com', user: 'ops', port: 2222},
      {name: '[::1]:22', destination: '::1', user: undefined, port: 22},
    ])
    expect(() => parseInventory('web1:99999\n', 'bad')).toThrow(BadInputError)
    expect(() => parseInventory('# nothing\n', 'empty')).toThrow(/names no hosts/)
  })

  it("an OpenSSH config: its Host names, patterns left out; ssh resolves HostName, Port and User itself", () => {
    const text = 'Host *\n  User root\nHost bastion web-?\n  HostName 10.0.0.1\nHost db1 db2\n  Port 2222\nMatch host x\n'
    const {format, hosts} = parseInventory(text, 'config')
    expect(format).toBe('ssh-config')
    expect(pick(hosts)).toEqual(['bastion', 'db1', 'db2'].map((n) => ({name: n, destination: n, user: undefined, port: undefined})))
  })

  it('an Ansible INI inventory: groups, children, group vars, and ansible_host/port/user per host', () => {
    const text = `
ungrouped1 ansible_host=10.0.0.9
[web]
web1 ansible_host=10.0.0.1 ansible_port=2201
web2 ansible_user=deploy
[db]
db1 ansible_host="10.0.0.3"
[prod:children]
web
db
[prod:vars]
ansible_user=ops
[all:vars]
ansible_port=22
`
    const {format, hosts} = parseInventory(text, 'inventory.ini')
    expect(format).toBe('ansible-ini')
    expect(pick(hosts)).toEqual([
      {name: 'ungrouped1', destination: '10.0.0.9', user: undefined, port: 22},
      {name: 'web1', destination: '10.0.0.1', user: 'ops', port: 2201},
      {name: 'web2', destination: 'web2', user: 'deploy', port: 22},
      {name: 'db1', destination: '10.0.0.3', user: 'ops', port: 22},
    ])
    expect(hosts.find((h) => h.name === 'web1')!.groups).toEqual(['web'])
    expect(() => parseInventory('[web]\nweb[01:20].example.com\n', 'ranges')).toThrow(/ranges/)
  })

  it('an Ansible YAML inventory: nested children, group vars inherited, host vars winning', () => {
    const text = `
all:
  vars:
    ansible_user: ops
  hosts:
    lone:
  children:
    kernels:
      vars:
        ansible_port: 2022
      hosts:
        old: {ansible_host: 127.0.0.1, ansible_port: 10022}
        new:
          ansible_host: 127.0.0.2
          ansible_user: root
      children:
        nobpf:
          hosts:
            nobpf-6.1: {ansible_host: 127.0.0.3}
`
    const {format, hosts} = parseInventory(text, 'inventory.yaml')
    expect(format).toBe('ansible-yaml')
    expect(pick(hosts)).toEqual([
      {name: 'lone', destination: 'lone', user: 'ops', port: undefined},
      {name: 'old', destination: '127.0.0.1', user: 'ops', port: 10022},
      {name: 'new', destination: '127.0.0.2', user: 'root', port: 2022},
      {name: 'nobpf-6.1', destination: '127.0.0.3', user: 'ops', port: 2022},
    ])
  })
})

/** A host as the fake transport plays it. */
interface FakeHost {
  report?: CapabilitiesReport
  hasBundle?: boolean
  unreachable?: string
  hang?: boolean
  diagError?: string
  /** The second line of the check's answer under --become: root, sudo USER, no-sudo USER, refused USER: ... */
  become?: string
  /** What sudo says on stderr (exit 1) when diag is run through it: a rule for other commands only. */
  sudoRefuses?: string
}

class FakeTransport implements Transport {
  readonly calls: {host: string; kind: string; inputFile?: string}[] = []
  readonly scripts = new Map<string, string>()
  inFlight = 0
  maxInFlight = 0
  closed = false

  constructor(
    private readonly hosts: Record<string, FakeHost>,
    private readonly bundle: LocalBundle,
  ) {}

  async run(host: FleetHost, script: string, options: RunOptions = {}): Promise<RemoteRun> {
    const fake = this.hosts[host.name]
    const kind = script.includes('uname -m') ? 'check' : script.includes('tar -xzf') ? 'install' : 'diag'
    this.calls.push({host: host.name, kind, inputFile: options.inputFile})
    if (kind === 'diag') this.scripts.set(host.name, script)
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    try {
      await new Promise((resolve) => setTimeout(resolve, 5))
      const ok = (stdout: string): RemoteRun => ({exitCode: 0, stdout, stderr: '', unreachable: false, timedOut: false})
      if (fake.unreachable) return {exitCode: 255, stdout: '', stderr: `ssh: ${fake.unreachable}\n`, unreachable: true, timedOut: false}
      if (kind === 'check') return ok(`x86_64 ${fake.hasBundle ? this.bundle.sha256 : 'none'}\n${script.includes('sudo -n -l') ? `${fake.become}\n` : ''}`)
      if (kind === 'install') {
        fake.hasBundle = true
        return ok('installed\n')
      }
      if (fake.sudoRefuses && script.includes('sudo -n --')) return {exitCode: 1, stdout: '', stderr: `${fake.sudoRefuses}\n`, unreachable: false, timedOut: false}
      if (fake.hang) return {exitCode: -1, stdout: '', stderr: '', unreachable: false, timedOut: true}
      if (fake.diagError) return {exitCode: 2, stdout: JSON.stringify({error: {kind: 'badInput', message: fake.diagError}}), stderr: '', unreachable: false, timedOut: false}
      return ok(JSON.stringify(fake.report))
    } finally {
      this.inFlight--
    }
  }

  async close(): Promise<void> {
    this.closed = true
  }
}

async function whatIfReport(kernel: string): Promise<CapabilitiesReport> {
  const file = `/work/shared/kernels/${kernel}/config`
  const config = parseKernelConfig(readFileSync(file, 'utf8'), file)
  return capabilitiesReport(await probeHost({whatIf: {config, release: config.version!}}, new UndoLog()), new Date())
}

describe('fleet capabilities over a fake transport', () => {
  const bundle: LocalBundle = {file: '/tmp/diag-0.1.0-linux-x64.tar.gz', version: '0.1.0', sha256: 'a'.repeat(64)}
  let debian: CapabilitiesReport
  let nobpf: CapabilitiesReport
  beforeAll(async () => {
    debian = await whatIfReport('debian-6.1-cloud')
    nobpf = await whatIfReport('nobpf-6.1')
  })

  it('copies the bundle only where it is missing, groups identical profiles, and keeps each failure to its host', async () => {
    const hosts: Record<string, FakeHost> = {
      'cloud-a': {report: debian, hasBundle: true},
      'cloud-b': {report: debian},
      old: {report: nobpf, hasBundle: true},
      gone: {unreachable: 'connect to host gone port 22: Connection timed out'},
      refused: {unreachable: 'Permission denied (publickey).'},
      stuck: {hasBundle: true, hang: true},
      broken: {hasBundle: true, diagError: 'something went wrong'},
    }
    const transport = new FakeTransport(hosts, bundle)
    const inventory = Object.keys(hosts).map((name) => ({name, destination: name, groups: []}))
    const outcomes = await onEveryHost(inventory, {args: ['capabilities'], parse: (stdout) => JSON.parse(stdout) as CapabilitiesReport}, {transport, bundle, concurrency: 3, timeoutMs: 1000})
    expect(transport.maxInFlight).toBeLessThanOrEqual(3)
    expect(transport.calls.filter((c) => c.kind === 'install')).toEqual([{host: 'cloud-b', kind: 'install', inputFile: bundle.file}])
    expect(outcomes.map((o) => o.host.name)).toEqual(Object.keys(hosts))

    const fleet = fleetCapabilities(outcomes, bundle, new Date())
    expect(fleet.groups.map((g) => g.hosts)).toEqual([['cloud-a', 'cloud-b'], ['old']])
    expect(fleet.groups[0].tools.syscount).toBe('bpf-tp-btf')
    expect(fleet.groups[1].tools.syscount).toBe('ftrace-hist')
    expect(fleet.errors).toEqual([
      {host: 'gone', stage: 'connect', message: 'ssh: connect to host gone port 22: Connection timed out'},
      {host: 'refused', stage: 'connect', message: 'ssh: Permission denied (publickey).'},
      {host: 'stuck', stage: 'run', message: 'diag capabilities timed out after 1 s'},
      {host: 'broken', stage: 'run', message: 'diag capabilities: something went wrong'},
    ])
    expect(fleet.hosts.find((h) => h.name === 'cloud-b')).toMatchObject({ok: true, copied: true})
    const text = renderFleetCapabilities(fleet)
    expect(text).toContain('2 hosts: 6.1.176 with BPF, BTF, fentry')
    expect(text).toContain('syscount bpf-tp-btf')
    expect(text).toContain('1 host: 6.1.192 with no BPF')
    expect(text).toContain('4 hosts without an answer:')
    expect(text).toContain('  refused: connect failed: ssh: Permission denied (publickey).')
    // A host without an answer shows in the exit code, as for fleet run; only all answering is 0.
    expect(fleet.exitCode).toBe(RUNBOOK_EXIT.incomplete)
    const answered = outcomes.filter((o) => o.ok)
    expect(fleetCapabilities(answered, bundle, new Date()).exitCode).toBe(EXIT.ok)
  })

  it('--become: diag through sudo -n where the login user is not root; a host where sudo cannot run without a password fails with why, before any copy', async () => {
    const hosts: Record<string, FakeHost> = {
      'as-root': {report: debian, hasBundle: true, become: 'root'},
      'with-sudo': {report: debian, hasBundle: true, become: 'sudo ops'},
      'no-sudo': {report: debian, become: 'no-sudo ops'},
      password: {report: debian, become: 'refused ops: sudo: a password is required'},
      // sudo -n -l allows ops something without a password, but not diag: found when diag runs.
      'other-rule': {report: debian, become: 'sudo ops', sudoRefuses: 'sudo: a password is required'},
    }
    const transport = new FakeTransport(hosts, bundle)
    const inventory = Object.keys(hosts).map((name) => ({name, destination: name, groups: []}))
    const outcomes = await onEveryHost(inventory, {args: ['capabilities'], parse: (stdout) => JSON.parse(stdout) as CapabilitiesReport}, {transport, bundle, concurrency: 4, timeoutMs: 1000, become: true})
    expect(outcomes.map((o) => [o.host.name, o.ok])).toEqual([['as-root', true], ['with-sudo', true], ['no-sudo', false], ['password', false], ['other-rule', false]])
    expect(transport.scripts.get('as-root')).toContain(`/var/tmp/diag-0.1.0/bin/diag capabilities --json </dev/null &`)
    expect(transport.scripts.get('with-sudo')).toContain(`sudo -n -- /var/tmp/diag-0.1.0/bin/diag capabilities --json </dev/null &`)
    // Refused before the bundle is copied: no install on either (other-rule gets it: its sudo had a rule).
    expect(transport.calls.filter((c) => c.kind !== 'check').map((c) => `${c.host} ${c.kind}`)).toEqual(['other-rule install', 'as-root diag', 'with-sudo diag', 'other-rule diag'])
    const errors = Object.fromEntries(outcomes.flatMap((o) => (o.ok ? [] : [[o.host.name, o.error]])))
    const rule = '`ops ALL=(root) NOPASSWD: /var/tmp/diag-*/bin/diag`'
    expect(errors['no-sudo']).toEqual({stage: 'become', message: `--become: ops is not root here and there is no sudo; log in as root, or install sudo with the rule ${rule}`})
    expect(errors.password).toEqual({stage: 'become', message: `--become: sudo -n refused ops (sudo: a password is required); it needs a password, which diag never types: give ops the rule ${rule} (in /etc/sudoers.d), or log in as root`})
    expect(errors['other-rule']).toEqual(errors.password)
  })

  it('--become asks sudo about the launcher itself once it is there (sudo -n -l, never sudo -n true, which a rule for the launcher alone refuses)', () => {
    const check = checkScript('0.1.0', true)
    expect(check).toContain('set -- /var/tmp/diag-0.1.0/bin/diag')
    expect(check).toContain('sudo -n -l "$@"')
    expect(check).not.toContain('sudo -n true')
    expect(checkScript('0.1.0')).not.toContain('sudo')
    expect(becomeFrom('sudo ops')).toEqual({sudo: true, user: 'ops'})
    expect(() => becomeFrom('refused ops: not allowed to run /var/tmp/diag-0.1.0/bin/diag')).toThrow(/^--become: sudo -n refused ops \(sudo: not allowed to run \/var\/tmp\/diag-0\.1\.0\/bin\/diag\); give ops the rule/)
  })

  it('the install removes, after the new bundle is in place, only directories of other versions with its marker, owned by the login user', () => {
    const install = installScript('0.1.0', bundle.sha256)
    const cleanup = install.slice(install.indexOf('for other in /var/tmp/diag-*'))
    expect(install.indexOf('mv "$new" /var/tmp/diag-0.1.0')).toBeLessThan(install.indexOf('for other in'))
    expect(cleanup).toContain('[ "$other" = /var/tmp/diag-0.1.0 ] && continue')
    expect(cleanup).toContain('[ -O "$other" ]')
    expect(cleanup).toContain('[ ! -L "$other" ]')
    expect(cleanup).toContain('[ -f "$other/.bundle-sha256" ]')
  })

  it('the remote scripts trust only a directory of the login user that no one else may write, and lock around the install', () => {
    expect(checkScript('0.1.0')).toContain('[ -O /var/tmp/diag-0.1.0 ]')
    expect(checkScript('0.1.0')).toContain('-perm -002')
    const install = installScript('0.1.0', bundle.sha256)
    expect(install).toContain('flock 9')
    expect(install).toContain(`= ${bundle.sha256} ]; then cat >/dev/null; echo present`)
    expect(install.indexOf('tar -xzf')).toBeLessThan(install.indexOf('mv "$new" /var/tmp/diag-0.1.0'))
  })
})

// The built CLI and the system ssh, but no sshd: hosts that refuse the connection or never speak
// SSH fail at once (or after --connect-timeout), so no host of the fleet answers.
describe.skipIf(!existsSync('/usr/bin/ssh'))('fleet capabilities when no host answers (needs the ssh client: /usr/bin/ssh)', () => {
  let work: string
  let silent: Server
  const sockets: Socket[] = []
  let args: string[]

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'diag-fleet-unit-'))
    // Never copied (no host gets that far): only its name and hash are read.
    const bundle = path.join(work, 'diag-0.0.0-test-linux-x64.tar.gz')
    writeFileSync(bundle, 'not a bundle')
    writeFileSync(path.join(work, 'ssh_config'), '')
    // Accepts the connection and says nothing: ssh gives up on the banner after ConnectTimeout.
    silent = createServer((socket) => sockets.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const silentPort = (silent.address() as {port: number}).port
    writeFileSync(path.join(work, 'hosts.txt'), `127.0.0.1:${await freePort()}\n127.0.0.1:${silentPort}\n`)
    args = ['fleet', 'capabilities', '--hosts', path.join(work, 'hosts.txt'), '--ssh-config', path.join(work, 'ssh_config'), '--bundle', bundle, '--connect-timeout', '1']
  })

  afterAll(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => silent?.close(resolve))
    if (work) rmSync(work, {recursive: true, force: true})
  })

  it('exits 9, as fleet run does for a host without an answer, with every host\'s error in the JSON on stdout', async () => {
    const run = await diagJson<FleetCapabilities>(args)
    expect(run.exitCode, run.stderr).toBe(RUNBOOK_EXIT.incomplete)
    expect(run.json.exitCode).toBe(RUNBOOK_EXIT.incomplete)
    expect(run.json.groups).toEqual([])
    expect(run.json.hosts.map((h) => h.ok)).toEqual([false, false])
    expect(run.json.errors).toEqual([
      {host: expect.any(String), stage: 'connect', message: expect.stringContaining('Connection refused')},
      {host: expect.any(String), stage: 'connect', message: expect.stringMatching(/timed out/i)},
    ])
  }, 60_000)

  it('exits 9 in text too, after the matrix is printed in full', async () => {
    const run = await diag(args)
    expect(run.exitCode, run.stderr).toBe(RUNBOOK_EXIT.incomplete)
    expect(run.stdout).toMatch(/^2 hosts without an answer:$/m)
    expect(run.stdout).toMatch(/^ {2}127\.0\.0\.1:\d+: connect failed: .*Connection refused/m)
    expect(run.stdout).toMatch(/^ {2}127\.0\.0\.1:\d+: connect failed: .*timed out/im)
  }, 60_000)
})

describe('fleet run: merging the hosts results', () => {
  const result = (host: string, intervals: [string, number][][]): ToolResult => ({
    schema: 'diag/result',
    schemaVersion: 1,
    tool: 'syscount',
    backend: {name: 'bpf', candidate: 'bpf-tp-btf', method: 'm', attach: 'a'},
    route: {why: 'first choice', passedOver: []},
    kernel: host,
    startedAt: new Date(0).toISOString(),
    seconds: 5,
    command: null,
    lost: 0,
    intervals: intervals.map((rows) => ({time: new Date(0).toISOString(), seconds: 1, data: {kind: 'counts', key: 'syscall', rows: rows.map(([key, count]) => ({key, count}))}})),
  })

  it('sums counts over every interval of every host, keeps each host its own, and a failed host its error', () => {
    const host = (name: string): FleetHost => ({name, destination: name, groups: []})
    const outcomes: HostOutcome<ToolResult>[] = [
      {host: host('a'), ok: true, copied: false, seconds: 1, value: result('a', [[['read', 10], ['getppid', 3]], [['read', 5]]])},
      {host: host('b'), ok: true, copied: true, seconds: 1, value: result('b', [[['getppid', 7], ['write', 1]]])},
      {host: host('c'), ok: false, seconds: 1, error: {stage: 'connect', message: 'ssh: Connection refused'}},
    ]
    const run = fleetRun('syscount', ['-d', '5'], outcomes)
    expect(run.merged).toEqual({kind: 'counts', key: 'syscall', rows: [{key: 'read', count: 15}, {key: 'getppid', count: 10}, {key: 'write', count: 1}]})
    expect(run.lost).toBe(0)
    expect(run.hosts[0]).toMatchObject({name: 'a', ok: true, data: {rows: [{key: 'read', count: 15}, {key: 'getppid', count: 3}]}})
    expect(run.errors).toEqual([{host: 'c', stage: 'connect', message: 'ssh: Connection refused'}])
    expect(run.exitCode).toBe(RUNBOOK_EXIT.incomplete)
    expect(fleetRun('syscount', ['-d', '5'], outcomes.slice(0, 2)).exitCode).toBe(0)
    const text = renderFleetRun(run, PLAIN)
    expect(text).toContain('syscount on 2 of 3 hosts')
    expect(text).toMatch(/^SYSCALL +TOTAL +a +b$/m)
    expect(text).toMatch(/^getppid +10 +3 +7$/m)
    expect(text).toContain('  c: connect failed: ssh: Connection refused')
  })

  it("reads a rows tool's NDJSON by its summary line", () => {
    const summary = {type: 'summary', ...result('a', [])}
    expect(parseToolOutput(`{"type":"row","x":1}\n${JSON.stringify(summary)}\n`).tool).toBe('syscount')
  })
})
