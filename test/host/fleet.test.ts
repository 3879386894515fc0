import {spawnSync} from 'node:child_process'
import {chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {EXIT, RUNBOOK_EXIT} from '../../src/errors.js'
import {HostError, becomeFrom, checkScript, sudoersRule} from '../../src/fleet/bundle.js'
import type {FleetCapabilities} from '../../src/fleet/matrix.js'
import type {FleetRun} from '../../src/fleet/merge.js'
import type {FleetRunbook} from '../../src/fleet/runbook.js'
import {diag, diagJson, startDiag} from '../helpers/cli.js'
import {type KernelState, isRoot, kernelState} from '../helpers/kernel-state.js'
import {expectOpenMetrics} from '../helpers/openmetrics.js'
import {schemaErrors} from '../helpers/schema.js'
import {SSHD, type TestSshd, USER_AUTHORIZED_KEYS, children, freePort, makeSshKeys, processesWith, sshTo, startSshd, waitForSsh, writeSshClientConfig} from '../helpers/sshd.js'
import {LOOKUPS, WORKLOAD, workloadBuilt} from '../helpers/workload.js'

/**
 * `diag fleet capabilities` for real: this file starts its own sshd (Debian's openssh-server) on
 * 127.0.0.1, on a free port, with a host key and an authorized key it makes in a temporary
 * directory, and asks a fleet of three: this host under two names (127.0.0.1 and localhost) and
 * one closed port. The bundle goes to /var/tmp under a version of the test's own, removed after.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const {version} = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}
const TEST_VERSION = `${version}-fleettest.${process.pid}`
const JUNIT_XSD = fileURLToPath(new URL('../fixtures/junit.xsd', import.meta.url))
/** Bundles of other versions the install finds in /var/tmp: only `old` is diag's own to remove. */
const OTHERS = {
  old: `/var/tmp/diag-${version}-fleettest-old.${process.pid}`,
  noMarker: `/var/tmp/diag-${version}-fleettest-nomarker.${process.pid}`,
  notOurs: `/var/tmp/diag-${version}-fleettest-notours.${process.pid}`,
  link: `/var/tmp/diag-${version}-fleettest-link.${process.pid}`,
}
const SUDO = ['/usr/bin/sudo', '/bin/sudo', '/usr/sbin/sudo'].find((file) => existsSync(file))

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
    for (const dir of [OTHERS.old, OTHERS.noMarker, OTHERS.notOurs, path.join(work, 'linked')]) {
      mkdirSync(path.join(dir, 'bin'), {recursive: true})
      if (dir !== OTHERS.noMarker) writeFileSync(path.join(dir, '.bundle-sha256'), `${'0'.repeat(64)}\n`)
    }
    // Another user's (nobody's): the login user (root here) is not its owner.
    chownSync(OTHERS.notOurs, 65_534, 65_534)
    symlinkSync(path.join(work, 'linked'), OTHERS.link)
  }, 120_000)

  afterAll(async () => {
    await sshd?.stop()
    rmSync(`/var/tmp/diag-${TEST_VERSION}`, {recursive: true, force: true})
    for (const dir of Object.values(OTHERS)) rmSync(dir, {recursive: true, force: true})
    if (work) rmSync(work, {recursive: true, force: true})
    expect(await kernelState()).toEqual(before)
  })

  it('copies the bundle, and reports both names of this host as one profile and the closed port as an error (exit 9: a host did not answer)', async () => {
    const run = await diagJson<FleetCapabilities>(args())
    expect(run.exitCode, run.stderr).toBe(RUNBOOK_EXIT.incomplete)
    const fleet = run.json
    expect(fleet.exitCode).toBe(RUNBOOK_EXIT.incomplete)
    expect(fleet.hosts.map((h) => [h.name, h.ok])).toEqual([['by-address', true], ['by-name', true], ['closed-port', false]])
    for (const host of fleet.hosts) if (host.ok) expect(schemaErrors('capabilities', host.report)).toBe('')
    expect(fleet.groups).toHaveLength(1)
    expect(fleet.groups[0].hosts).toEqual(['by-address', 'by-name'])
    expect(fleet.errors).toEqual([{host: 'closed-port', stage: 'connect', message: expect.stringContaining('Connection refused')}])
    // The two names are one host: one copy lands, the other finds it there (or installs the same).
    expect(fleet.hosts.filter((h) => h.ok && h.copied).length).toBeGreaterThanOrEqual(1)
    expect(readFileSync(`/var/tmp/diag-${TEST_VERSION}/.bundle-sha256`, 'utf8').trim()).toBe(fleet.bundle.sha256)
    expect(run.stderr).toContain('[closed-port] connect failed')
    // The install removed the other version it had installed (its marker, root's: the login
    // user's), and kept the directory without the marker, nobody's, and the symbolic link.
    expect(existsSync(OTHERS.old)).toBe(false)
    expect(fleet.hosts.flatMap((h) => (h.ok ? h.removed : []))).toContain(OTHERS.old)
    expect(run.stderr).toContain(`removed the older `)
    for (const kept of [OTHERS.noMarker, OTHERS.notOurs, OTHERS.link, path.join(work, 'linked/.bundle-sha256')]) expect(existsSync(kept), kept).toBe(true)
  }, 180_000)

  it('then finds the bundle there and copies nothing; prints the matrix as text, in full before its exit 9', async () => {
    const run = await diag(args(), {timeout: 180_000})
    expect(run.exitCode, run.stderr).toBe(RUNBOOK_EXIT.incomplete)
    expect(run.stdout).toMatch(/^2 hosts: \S+ with BPF, BTF, .*: syscount bpf-/m)
    expect(run.stdout).toContain('  by-address by-name')
    expect(run.stdout).toMatch(/^ {2}closed-port: connect failed: .*Connection refused/m)
    expect(run.stderr).not.toContain('copying the bundle')
  }, 180_000)

  it.skipIf(!workloadBuilt)('fleet run syscount: both names at once, each counting its own workload; the merged count is theirs added', async () => {
    const calls = 20_000
    const run = await diagJson<FleetRun>([...args('run'), 'syscount', '--', '--syscall', 'getppid', '--', WORKLOAD, 'getppid', String(calls)])
    // closed-port did not answer.
    expect(run.exitCode, run.stderr).toBe(RUNBOOK_EXIT.incomplete)
    expect(run.json.exitCode).toBe(RUNBOOK_EXIT.incomplete)
    const fleet = run.json
    expect(fleet.hosts.map((h) => [h.name, h.ok])).toEqual([['by-address', true], ['by-name', true], ['closed-port', false]])
    const getppid = (data: FleetRun['merged']) => (data?.kind === 'counts' ? data.rows.find((r) => r.key === 'getppid')?.count : undefined)
    for (const host of fleet.hosts) if (host.ok) expect(getppid(host.data), host.name).toBe(calls)
    expect(getppid(fleet.merged)).toBe(2 * calls)
    expect(fleet.errors).toEqual([{host: 'closed-port', stage: 'connect', message: expect.stringContaining('Connection refused')}])
    const text = await diag([...args('run'), 'syscount', '--', '--syscall', 'getppid', '--', WORKLOAD, 'getppid', '100'], {timeout: 180_000})
    expect(text.exitCode, text.stderr).toBe(RUNBOOK_EXIT.incomplete)
    expect(text.stdout).toMatch(/^SYSCALL +TOTAL +by-address +by-name$/m)
    expect(text.stdout).toMatch(/^getppid +200 +100 +100$/m)
  }, 180_000)

  it.skipIf(!workloadBuilt)("fleet run gethostlatency (rows): every host's rows kept, with the host's name beside the tool's own host column, in time order", async () => {
    const run = await diagJson<FleetRun>([...args('run'), 'gethostlatency', '--', '--', LOOKUPS, '3', '2', '1'])
    expect(run.exitCode, run.stderr).toBe(RUNBOOK_EXIT.incomplete) // closed-port did not answer
    const merged = run.json.merged
    if (merged?.kind !== 'rows') throw new Error(`not rows: ${merged?.kind}`)
    expect(merged.columns.slice(0, 2).map((c) => c.name)).toEqual(['fleetHost', 'time'])
    // 3 names looked up twice by each host's own traced command.
    expect(merged.rows.filter((r) => r.fleetHost === 'by-address')).toHaveLength(6)
    expect(merged.rows.filter((r) => r.fleetHost === 'by-name')).toHaveLength(6)
    for (const row of merged.rows) expect(row.host).toBe('localhost')
    const times = merged.rows.map((r) => Date.parse(r.time as string))
    expect(times).toEqual([...times].sort((a, b) => a - b))
    const text = await diag([...args('run'), 'gethostlatency', '--', '--', LOOKUPS, '1', '1'], {timeout: 180_000})
    expect(text.stdout).toMatch(/^FLEET_HOST +TIME +PID +COMM +LATms +HOST$/m)
    expect(text.stdout).toMatch(/^by-address +\d\d:\d\d:\d\d .* localhost$/m)
    expect(text.stdout).toMatch(/^by-name +\d\d:\d\d:\d\d .* localhost$/m)
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
    await expectStoppedWithSession(fleet, bundled)
  }, 120_000)

  it('--identity-file is the key ssh logs in with: without it (a config naming no key) the login is refused', async () => {
    const noKey = path.join(work, 'ssh_config_nokey')
    writeFileSync(noKey, readFileSync(path.join(work, 'ssh_config'), 'utf8').replace(/^ {2}IdentityFile .*\n/m, ''))
    const inventory = path.join(work, 'one-host.txt')
    writeFileSync(inventory, `127.0.0.1:${port}\n`)
    const base = ['fleet', 'capabilities', '--hosts', inventory, '--ssh-config', noKey, '--bundle', path.join(work, `diag-${TEST_VERSION}-linux-x64.tar.gz`), '--connect-timeout', '5']
    const refused = await diagJson<FleetCapabilities>(base)
    expect(refused.exitCode, refused.stderr).toBe(RUNBOOK_EXIT.incomplete)
    expect(refused.json.errors).toEqual([{host: `127.0.0.1:${port}`, stage: 'connect', message: expect.stringContaining('Permission denied')}])
    const withKey = await diagJson<FleetCapabilities>([...base, '--identity-file', path.join(work, 'user_key')])
    // Every host answered: only then 0.
    expect(withKey.exitCode, withKey.stderr).toBe(0)
    expect(withKey.json.exitCode).toBe(0)
    expect(withKey.json.hosts.map((h) => h.ok)).toEqual([true])
  }, 120_000)

  it('--become: a root login runs diag as it is, without sudo', async () => {
    const run = await diagJson<FleetCapabilities>([...args(), '--become'])
    expect(run.exitCode, run.stderr).toBe(RUNBOOK_EXIT.incomplete)
    expect(run.json.hosts.map((h) => [h.name, h.ok])).toEqual([['by-address', true], ['by-name', true], ['closed-port', false]])
  }, 180_000)

  // The check that --become runs first, run as nobody directly (nobody's shell is nologin, so no
  // login): it must refuse, saying whether sudo is missing or wants a password. The logins of a
  // real unprivileged user through a real sudo are below.
  it('--become: the check refuses a user that is not root, saying whether sudo is missing or wants a password', () => {
    // sudo keeps a time stamp per user it asked about in /run/sudo/ts: nobody's goes if it is this test's.
    const stamp = '/run/sudo/ts/nobody'
    const stamped = existsSync(stamp)
    const check = spawnSync('runuser', ['-u', 'nobody', '--', 'sh', '-c', checkScript(TEST_VERSION, true)], {encoding: 'utf8', cwd: '/'})
    if (!stamped) rmSync(stamp, {force: true})
    expect(check.status, check.stderr).toBe(0)
    const second = check.stdout.trim().split('\n')[1]
    const sudo = SUDO !== undefined
    expect(second).toMatch(sudo ? /^refused nobody: / : /^no-sudo nobody$/)
    let error: unknown
    try {
      becomeFrom(second)
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(HostError)
    expect(error).toMatchObject({stage: 'become', message: sudo ? expect.stringContaining('sudo -n refused nobody') : expect.stringContaining('nobody is not root here and there is no sudo')})
  })

  it.skipIf(!workloadBuilt)('fleet run RUNBOOK: each host runs the local runbook and sends back its report and heat map; verdicts, JUnit and metrics per host', async () => {
    const calls = 5000
    const runbook = path.join(work, 'fleet-look.yaml')
    writeFileSync(
      runbook,
      [
        'name: fleet-look',
        'variables:',
        '  calls: 1',
        `  heatmap: ${path.join(work, 'disk.svg')}`,
        'steps:',
        '  - name: getppid',
        '    tool: syscount',
        '    flags: {syscall: getppid}',
        `    command: [${WORKLOAD}, getppid, "\${calls}"]`,
        '    checks:',
        '      - expect: count(syscall == "getppid") == ${calls}',
        '  - name: disks',
        '    tool: biolatency',
        '    duration: 1',
        '    heatmap: ${heatmap}',
        '',
      ].join('\n'),
    )
    const out = (name: string) => path.join(work, name)
    const leftBefore = readdirSync('/tmp').filter((f) => f.startsWith('diag-runbook.'))
    const run = await diagJson<FleetRunbook>([
      ...args('run'), runbook, '--set', `calls=${calls}`, '--junit', out('fleet.xml'), '--prometheus', out('fleet.prom'), '--openmetrics', out('fleet.om'), '--report', out('fleet.md'),
    ])
    // The closed port gives no verdict: the fleet's is incomplete (9), unless a check failed (8).
    const fleet = run.json
    expect(fleet.hosts.map((h) => [h.name, h.ok])).toEqual([['by-address', true], ['by-name', true], ['closed-port', false]])
    for (const host of fleet.hosts) {
      if (!host.ok) continue
      const [getppid, disks] = host.report.steps
      expect(getppid.status, getppid.reason ?? '').toBe('ran')
      expect(getppid.checks.map((c) => c.status)).toEqual(['pass'])
      expect(host.verdict).toBe(disks.status === 'ran' ? 'pass' : 'incomplete')
      if (disks.status === 'ran') {
        // Drawn on the host, sent back, saved with the host's name.
        expect(host.heatmaps).toEqual([out(`disk.${host.name}.svg`)])
        expect(readFileSync(out(`disk.${host.name}.svg`), 'utf8')).toMatch(/<svg[\s>]/)
        expect(disks.argv).toContain(out(`disk.${host.name}.svg`))
      }
    }
    expect(run.exitCode, run.stderr).toBe(fleet.verdict === 'fail' ? 8 : 9)
    expect(fleet.verdict).toBe('incomplete')
    expect(fleet.errors).toEqual([{host: 'closed-port', stage: 'connect', message: expect.stringContaining('Connection refused')}])

    const xmllint = spawnSync('xmllint', ['--noout', '--schema', JUNIT_XSD, out('fleet.xml')], {encoding: 'utf8'})
    expect(xmllint.status, xmllint.stderr).toBe(0)
    const junit = readFileSync(out('fleet.xml'), 'utf8')
    for (const name of ['by-address', 'by-name', 'closed-port']) expect(junit).toContain(`<testsuite name="${name}" `)
    const prometheus = readFileSync(out('fleet.prom'), 'utf8')
    const promtool = spawnSync('promtool', ['check', 'metrics'], {input: prometheus, encoding: 'utf8'})
    expect(promtool.status, promtool.stdout + promtool.stderr).toBe(0)
    for (const name of ['by-address', 'by-name'])
      expect(prometheus).toMatch(new RegExp(`^diag_events_total\\{host="${name}",runbook="fleet-look",step="getppid",tool="syscount",backend="[^"]+",key="syscall",value="getppid"\\} ${calls}$`, 'm'))
    expect(prometheus).toContain('diag_fleet_host_answered{host="closed-port",runbook="fleet-look"} 0')
    expectOpenMetrics(readFileSync(out('fleet.om'), 'utf8'), work)
    expect(readFileSync(out('fleet.md'), 'utf8')).toMatch(/^## by-address: (PASS|INCOMPLETE)$/m)
    // The hosts' run directories (in /tmp: ssh passes no TMPDIR) are gone.
    expect(readdirSync('/tmp').filter((f) => f.startsWith('diag-runbook.'))).toEqual(leftBefore)
  }, 180_000)

  // The report's directory is there at the check before any host is asked, and the host's traced
  // command (this host, through the sshd) removes it. That write failure threw exit 2, hiding the verdict.
  it('fleet run RUNBOOK: a report it could not write after the run is said beside the result, and a pass exits 10, never 0', async () => {
    const gone = path.join(work, 'report-gone')
    mkdirSync(gone)
    const inventory = path.join(work, 'one-host.txt')
    writeFileSync(inventory, `127.0.0.1:${port}\n`)
    const runbook = path.join(work, 'gone.yaml')
    writeFileSync(runbook, ['name: gone', 'steps:', '  - tool: syscount', `    command: [rm, -r, '${gone}']`, '    checks: ["count > 0"]', ''].join('\n'))
    // The usual ssh config and bundle; only the inventory is this host alone, so the fleet can pass.
    const rest = args('run').slice(4)
    const junit = path.join(work, 'gone.xml')
    const run = await diagJson<FleetRunbook>(['fleet', 'run', '--hosts', inventory, ...rest, runbook, '--report', path.join(gone, 'out.md'), '--junit', junit])
    expect(existsSync(gone)).toBe(false)
    expect(run.json).toMatchObject({verdict: 'pass', exitCode: 0})
    expect(readFileSync(junit, 'utf8')).toContain('<testsuite name="127.0.0.1')
    // With --json, said as JSON on stderr, in the shape of every diag error there.
    const line = run.stderr.split('\n').find((l) => l.startsWith('{"error"'))
    expect(JSON.parse(line ?? '{}').error, run.stderr).toMatchObject({kind: 'reportNotWritten', exitCode: EXIT.reportNotWritten})
    expect(JSON.parse(line!).error.message).toMatch(new RegExp(`^--report ${gone}/out\\.md: could not write it: ENOENT.*; written: ${junit}$`))
    expect(run.exitCode, run.stderr).toBe(EXIT.reportNotWritten)
  }, 180_000)

  /**
   * --become for real: a throwaway user (its name carries the pid; no password, so a key login only;
   * its home in a temporary directory with the test's authorized key) logs in through the test's
   * sshd; sudo (Debian's, which setup installs) with a drop-in in /etc/sudoers.d that changes from
   * test to test. The user's bundle is its own version, in /var/tmp, owned by the user.
   */
  describe.skipIf(!SUDO)(`--become as an unprivileged login user, through sudo${SUDO ? '' : ' (skipped: no sudo; install the sudo package, as scripts/setup.sh does)'}`, () => {
    const user = `diagfleet${process.pid}`
    const userVersion = `${version}-fleettest-become.${process.pid}`
    const userDir = `/var/tmp/diag-${userVersion}`
    /** Another version's bundle of this user's, with the marker: the user's install removes it. */
    const userOld = `/var/tmp/diag-${version}-fleettest-become-old.${process.pid}`
    const sudoers = `/etc/sudoers.d/diag-fleet-test-${process.pid}`
    let home: string
    let uid: number
    const userArgs = (command = 'capabilities') => [
      'fleet', command, '--hosts', path.join(work, 'user-inventory.yaml'), '--ssh-config', path.join(work, 'ssh_config'),
      '--bundle', path.join(work, `diag-${userVersion}-linux-x64.tar.gz`), '--connect-timeout', '5',
    ]
    const rule = (line: string | undefined) => {
      if (line === undefined) return rmSync(sudoers, {force: true})
      writeFileSync(sudoers, `${line}\n`, {mode: 0o440})
      const visudo = spawnSync('visudo', ['-c', '-f', sudoers], {encoding: 'utf8'})
      expect(visudo.status, visudo.stdout + visudo.stderr).toBe(0)
    }
    const uidOf = (pid: string) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
    const report = (fleet: FleetCapabilities) => {
      const host = fleet.hosts[0]
      if (!host.ok) throw new Error(`no report: ${JSON.stringify(fleet.errors)}`)
      return Object.fromEntries(host.report.capabilities.map((c) => [c.name, c]))
    }

    beforeAll(async () => {
      // An unprivileged login's shell writes to /dev/null (the watcher, the check): a host where only
      // root may is broken for every user, and would fail here for that, not for sudo.
      expect(statSync('/dev/null').mode & 0o002, '/dev/null is not writable by other users (chmod 666 /dev/null)').not.toBe(0)
      home = mkdtempSync(path.join(tmpdir(), 'diag-fleet-home-'))
      // `*`: no password, but not locked (sshd without PAM refuses a locked account, `!`).
      await execa('useradd', ['-M', '-d', home, '-s', '/bin/sh', '-p', '*', user])
      uid = Number((await execa('id', ['-u', user])).stdout)
      mkdirSync(path.join(home, path.dirname(USER_AUTHORIZED_KEYS)), {mode: 0o700})
      copyFileSync(path.join(work, 'user_key.pub'), path.join(home, USER_AUTHORIZED_KEYS))
      await execa('chown', ['-R', `${user}:`, home])
      copyFileSync(path.join(work, `diag-${version}-linux-x64.tar.gz`), path.join(work, `diag-${userVersion}-linux-x64.tar.gz`))
      writeFileSync(path.join(work, 'user-inventory.yaml'), `all:\n  hosts:\n    unprivileged: {ansible_host: 127.0.0.1, ansible_port: ${port}, ansible_user: ${user}}\n`)
      mkdirSync(path.join(userOld, 'bin'), {recursive: true})
      writeFileSync(path.join(userOld, '.bundle-sha256'), `${'0'.repeat(64)}\n`)
      await execa('chown', ['-R', `${user}:`, userOld])
      const login = await sshTo(path.join(work, 'ssh_config'), port, 'id -un', {user})
      expect(login.exitCode, String(login.stderr)).toBe(0)
      expect(String(login.stdout).trim()).toBe(user)
    }, 60_000)

    afterAll(async () => {
      rmSync(sudoers, {force: true})
      rmSync(`/run/sudo/ts/${user}`, {force: true})
      // -f: even were a process of the user's still running (a failed test); the last test looks.
      await execa('userdel', ['-f', user], {reject: false})
      for (const dir of [home, userDir, userOld]) if (dir) rmSync(dir, {recursive: true, force: true})
    })

    it('without a sudoers rule: the become stage fails with sudo\'s words, and the bundle is not copied', async () => {
      rule(undefined)
      const run = await diagJson<FleetCapabilities>([...userArgs(), '--become'])
      expect(run.exitCode, run.stderr).toBe(RUNBOOK_EXIT.incomplete)
      expect(run.json.errors, run.stderr).toEqual([
        {host: 'unprivileged', stage: 'become', message: `--become: sudo -n refused ${user} (sudo: a password is required); it needs a password, which diag never types: give ${user} the rule \`${sudoersRule(user)}\` (in /etc/sudoers.d), or log in as root`},
      ])
      expect(existsSync(userDir)).toBe(false)
    }, 120_000)

    it('a rule for other commands only: the bundle is copied (the user\'s own, in /var/tmp), then sudo refuses diag, at the become stage', async () => {
      rule(`${user} ALL=(root) NOPASSWD: /usr/bin/true`)
      const run = await diagJson<FleetCapabilities>([...userArgs(), '--become'])
      expect(run.json.errors, run.stderr).toEqual([{host: 'unprivileged', stage: 'become', message: expect.stringContaining(`--become: sudo -n refused ${user} (sudo: a password is required)`)}])
      // The login user's bundle: its directory, no one else may write it; root's of this file's
      // other tests and the directories of other users are not its to remove; its own old one is.
      const stat = statSync(userDir)
      expect([stat.uid, stat.mode & 0o022]).toEqual([uid, 0])
      expect(existsSync(path.join(userDir, 'bin/diag'))).toBe(true)
      expect(existsSync(userOld)).toBe(false)
      for (const kept of [`/var/tmp/diag-${TEST_VERSION}`, OTHERS.noMarker, OTHERS.notOurs]) expect(existsSync(kept), kept).toBe(true)
      // With the launcher there, the check asks sudo about it and refuses before running anything.
      const again = await diagJson<FleetCapabilities>([...userArgs(), '--become'])
      expect(again.json.errors).toEqual([{host: 'unprivileged', stage: 'become', message: expect.stringContaining(`sudo -n refused ${user} (sudo: not allowed to run ${userDir}/bin/diag)`)}])
    }, 180_000)

    it('without --become, diag runs as the login user: not root, BPF refused', async () => {
      const run = await diagJson<FleetCapabilities>(userArgs())
      expect(run.exitCode, run.stderr).toBe(0)
      const capabilities = report(run.json)
      expect(capabilities.root).toMatchObject({status: 'unavailable', detail: `uid ${uid}`})
      expect(capabilities['bpf-tracepoint'].status).not.toBe('available')
    }, 120_000)

    it('with the rule for diag\'s launcher alone (sudo -n true refused): capabilities --become answers as root', async () => {
      rule(sudoersRule(user))
      const sudoTrue = await sshTo(path.join(work, 'ssh_config'), port, 'sudo -n true', {user})
      expect(String(sudoTrue.stderr)).toContain('a password is required')
      const run = await diagJson<FleetCapabilities>([...userArgs(), '--become'])
      expect(run.exitCode, run.stderr).toBe(0)
      expect(run.json.errors).toEqual([])
      const capabilities = report(run.json)
      expect(capabilities.root).toMatchObject({status: 'available', detail: 'uid 0'})
      expect(capabilities['cap-sys-admin'].status).toBe('available')
      // A root-only probe: loading a BPF tracepoint program.
      expect(capabilities['bpf-tracepoint'].status).toBe('available')
      expect(run.json.hosts[0]).toMatchObject({ok: true, copied: false})
    }, 120_000)

    it.skipIf(!workloadBuilt)('fleet run syscount --become: the exact count, traced as root', async () => {
      const calls = 20_000
      const run = await diagJson<FleetRun>([...userArgs('run'), '--become', 'syscount', '--', '--syscall', 'getppid', '--', WORKLOAD, 'getppid', String(calls)])
      expect(run.exitCode, run.stderr).toBe(0)
      const host = run.json.hosts[0]
      if (!host.ok) throw new Error(JSON.stringify(run.json.errors))
      expect(host.data?.kind === 'counts' ? host.data.rows.find((r) => r.key === 'getppid')?.count : undefined).toBe(calls)
    }, 180_000)

    it('SIGTERM of diag stops the remote diag under sudo with the ssh session: nothing left running, tracing undone', async () => {
      const tracing = () => processesWith(`${userDir}/`).filter((line) => line.includes('bundle-run.mjs syscount'))
      const fleet = startDiag([...userArgs('run'), '--become', 'syscount', '--', '--syscall', 'getppid'])
      try {
        const deadline = Date.now() + 60_000
        while (tracing().length < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200))
        expect(tracing()).toHaveLength(1)
        // diag there is root, the child of sudo, which the login user's shell started.
        const pid = tracing()[0].split(':')[0]
        expect(uidOf(pid)).toBe(0)
        const parent = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]
        expect(readFileSync(`/proc/${parent}/cmdline`, 'utf8').split('\0').slice(0, 4)).toEqual(['sudo', '-n', '--', `${userDir}/bin/diag`])
        await new Promise((resolve) => setTimeout(resolve, 1000))
      } finally {
        fleet.kill('SIGTERM')
      }
      await expectStoppedWithSession(fleet, `${userDir}/`)
      expect(await kernelState()).toEqual(before)
    }, 120_000)
  })

  it('leaves nothing running: no ssh master, no session on the sshd, no diag on the host', async () => {
    // sshd ends a session's process shortly after its client is gone.
    const deadline = Date.now() + 5000
    while (children(sshd.process.pid!).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
    expect(children(sshd.process.pid!)).toEqual([])
    expect(processesWith('diag-ssh-')).toEqual([])
    expect(processesWith(`/var/tmp/diag-${TEST_VERSION}`)).toEqual([])
    expect(processesWith(`/var/tmp/diag-${version}-fleettest-become.`)).toEqual([])
  })
})

/** A fleet run stopped with SIGTERM: interrupted (130), and nothing of the bundle at `place` left running on the host. */
async function expectStoppedWithSession(fleet: PromiseLike<{exitCode?: number; stderr?: unknown}>, place: string): Promise<void> {
  const ended = await fleet
  expect(ended.exitCode).toBe(130)
  expect(String(ended.stderr)).toContain('interrupted: diag there was stopped with its ssh session')
  const gone = Date.now() + 15_000
  while (processesWith(place).length > 0 && Date.now() < gone) await new Promise((resolve) => setTimeout(resolve, 200))
  expect(processesWith(place)).toEqual([])
}
