import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {TOOLS} from '../../tools/index.js'
import {diag} from '../helpers/cli.js'
import {expectUsable, hostConfig, hostTruths} from '../helpers/ground-truth.js'
import {type KernelState, isRoot, kernelState} from '../helpers/kernel-state.js'
import {LOOKUPS, OFFCPU_WORKLOAD, SPIN_WORKLOAD, TCP_WORKLOAD, WORKLOAD, closedTcpPort, loopDevices, startTcpServer, workloadBuilt} from '../helpers/workload.js'
import {MATRIX, type MatrixEnv, type MatrixRow, TCP, getppidPattern, judge, recordRows} from '../matrix/cases.js'

// This VM's kernel hands perf nothing of its second CPU's idle task (neither the switch out of it
// nor the wakeups made from it), so perf-record cannot end a block there: offcputime's workload runs
// on the first CPU here. test/host/offcputime.test.ts runs it on each CPU, and checks that diag
// reports such blocks as lost.
const PERF_SEES_FIRST_CPU_ONLY = ['taskset', '-c', '0']

// Any file will do for the read workload: diag's own package.json is always there.
const READ_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../package.json')
const config = hostConfig()
const missing = !isRoot ? 'needs root' : !workloadBuilt ? 'needs the built workload' : !loopDevices ? 'needs loop devices' : !config ? 'needs the kernel config' : undefined

describe.skipIf(missing)(`every tool on every backend, on this host${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let before: KernelState
  let env: MatrixEnv
  let image: string
  let truths: Map<string, boolean>
  let tcpServer: Awaited<ReturnType<typeof startTcpServer>> | undefined
  const rows: MatrixRow[] = []

  beforeAll(async () => {
    before = await kernelState()
    image = `/tmp/diag-matrix-${process.pid}.img`
    await execa('truncate', ['-s', '64M', image])
    const device = (await execa('losetup', ['--find', '--show', image])).stdout.trim()
    const symbols = new Set(readFileSync('/proc/kallsyms', 'utf8').split('\n').map((line) => line.split(' ')[2]))
    tcpServer = await startTcpServer('127.0.0.1', TCP.reply)
    env = {name: 'host', workload: WORKLOAD, offcpuWorkload: OFFCPU_WORKLOAD, offcpuPin: PERF_SEES_FIRST_CPU_ONLY, spinWorkload: SPIN_WORKLOAD, readFile: READ_FILE, disk: device, diskLabel: path.basename(device), getppidPattern: getppidPattern(symbols), lookups: LOOKUPS, tcpWorkload: TCP_WORKLOAD, tcpPort: String(tcpServer.port), closedPort: await closedTcpPort()}
    truths = (await hostTruths())!
  })

  afterAll(async () => {
    await tcpServer?.stop()
    if (env) await execa('losetup', ['-d', env.disk])
    await execa('rm', ['-f', image])
    recordRows(rows, 'host')
    expect(await kernelState()).toEqual(before)
  })

  for (const c of MATRIX) {
    it(`${c.tool} on ${c.candidate}`, async (context) => {
      const tool = TOOLS.find((t) => t.name === c.tool)!
      const candidates = c.candidate === 'default' ? tool.candidates.filter((x) => !c.passesOver?.includes(x.id)) : tool.candidates.filter((x) => x.id === c.candidate)
      const verdicts = candidates.map((x) => expectUsable(x.needs, truths))
      const first = verdicts.findIndex((v) => v !== false)
      if (first >= 0 && verdicts[first] === undefined) return context.skip(`no independent truth for ${candidates[first].needs.filter((n) => !truths.has(n)).join(', ')}`)
      const shouldRun = first >= 0
      const run = await diag(c.args(env))
      const row = judge(c, env, run.exitCode, run.stdout)
      rows.push(row)
      if (shouldRun) {
        expect(row.outcome, `${row.detail}\n${run.stderr}`).toBe('right')
        expect(row.ran).toBe(candidates[first].id)
      } else {
        expect(row.outcome, `${row.detail}\n${run.stderr}`).toBe('not supported')
        expect(run.exitCode).toBe(3)
      }
    })
  }
})
