// What `diag fleet capabilities` saves over asking each host in turn: the lab kernels booted as
// guests (test/lab/lab.ts startGuest: QEMU user networking, sshd on 127.0.0.1, no Node.js) and
// this host through an sshd of the bench's own, each with diag's bundle already in place (one
// fleet run copies it first, untimed). Then, interleaved for `rounds` rounds: `diag fleet
// capabilities --json` over the four hosts, and the same `ssh HOST /var/tmp/diag-VERSION/bin/diag
// capabilities --json` run host after host. Medians, and their ratio.
//
// Usage (root, after npm run build; the guests boot under emulation, a few minutes):
//   npx vite-node bench/lab-fleet.ts [rounds]
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'

import {remoteDiag} from '../src/fleet/bundle.js'
import {freePort, makeSshKeys, startSshd, waitForSsh, writeSshClientConfig} from '../test/helpers/sshd.js'
import {LAB_KERNELS, type LabGuest, guestUnavailable, startGuest} from '../test/lab/lab.js'

const rounds = Number(process.argv[2] ?? 5)
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const {version} = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}
const BENCH_VERSION = `${version}-fleetbench.${process.pid}`
const kernels = Object.values(LAB_KERNELS).filter((kernel) => !guestUnavailable(kernel))
for (const kernel of Object.values(LAB_KERNELS)) if (guestUnavailable(kernel)) console.log(`left out ${kernel.name}: ${guestUnavailable(kernel)}`)

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

const work = mkdtempSync(path.join(tmpdir(), 'diag-fleetbench-'))
const guests: LabGuest[] = []
let sshd: Awaited<ReturnType<typeof startSshd>> | undefined
try {
  const {hostKey, authorizedKeys} = await makeSshKeys(work)
  const ports = await Promise.all(kernels.map(() => freePort()))
  const booting = Promise.all(kernels.map(async (kernel, i) => guests.push(await startGuest(kernel, {network: {sshPort: ports[i], hostKey, authorizedKeys}}))))
  await execa('node', [path.join(ROOT, 'scripts/bundle.mjs'), '--out', work])
  const bundle = path.join(work, `diag-${BENCH_VERSION}-linux-x64.tar.gz`)
  await execa('cp', [path.join(work, `diag-${version}-linux-x64.tar.gz`), bundle])
  sshd = await startSshd(work)
  const config = writeSshClientConfig(work, [...ports, sshd.port].map((port) => ({address: '127.0.0.1', port})))
  await booting
  const hosts = [...guests.map((g) => ({name: g.kernel.name, port: g.sshPort})), {name: 'this-host', port: sshd.port}]
  writeFileSync(path.join(work, 'inventory.ini'), hosts.map((h) => `${h.name} ansible_host=127.0.0.1 ansible_port=${h.port} ansible_user=root`).join('\n') + '\n')
  await Promise.all(hosts.map((h) => waitForSsh(config, h.port, 600_000)))

  const fleet = ['fleet', 'capabilities', '--json', '--hosts', path.join(work, 'inventory.ini'), '--ssh-config', config, '--bundle', bundle, '--connect-timeout', '60', '--timeout', '900']
  const diag = (args: string[]) => execa(process.execPath, [path.join(ROOT, 'bin/run.js'), ...args], {reject: false})
  const copied = await diag(fleet)
  if (copied.exitCode !== 0) throw new Error(`the first fleet run (which copies the bundle) failed: ${copied.stderr}`)

  const timings: Record<string, number[]> = {fleet: [], sequential: []}
  for (let round = 0; round < rounds; round++) {
    let start = performance.now()
    const run = await diag(fleet)
    timings.fleet.push((performance.now() - start) / 1000)
    if (run.exitCode !== 0 || JSON.parse(run.stdout).errors.length > 0) throw new Error(`fleet capabilities failed: ${run.stderr}`)
    start = performance.now()
    for (const host of hosts) {
      const one = await execa('ssh', ['-F', config, '-o', 'BatchMode=yes', '-p', String(host.port), '127.0.0.1', `${remoteDiag(BENCH_VERSION)} capabilities --json`], {reject: false, stdin: 'ignore'})
      if (one.exitCode !== 0) throw new Error(`ssh ${host.name} diag capabilities failed: ${one.stderr}`)
    }
    timings.sequential.push((performance.now() - start) / 1000)
  }
  const fleetMedian = median(timings.fleet)
  const sequentialMedian = median(timings.sequential)
  console.log(`hosts: ${hosts.map((h) => h.name).join(', ')} (the guests under qemu's emulation); ${rounds} rounds, interleaved; medians`)
  console.log('| run | seconds | ratio to diag fleet capabilities |')
  console.log('| --- | --- | --- |')
  console.log(`| \`diag fleet capabilities --json\` (all hosts at once) | ${fleetMedian.toFixed(1)} | 1.00 |`)
  console.log(`| \`ssh HOST diag capabilities --json\`, host after host | ${sequentialMedian.toFixed(1)} | ${(sequentialMedian / fleetMedian).toFixed(2)} |`)
} finally {
  await Promise.all(guests.map((g) => g.powerOff()))
  await sshd?.stop()
  rmSync(path.join('/var/tmp', `diag-${BENCH_VERSION}`), {recursive: true, force: true})
  rmSync(work, {recursive: true, force: true})
}
