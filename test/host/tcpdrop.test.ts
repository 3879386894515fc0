import {existsSync, readFileSync} from 'node:fs'

import {execa} from 'execa'
import {beforeAll, describe, expect, it} from 'vitest'

import {EXIT} from '../../src/errors.js'
import {tcpdrop} from '../../tools/tcpdrop/tool.js'
import {diag} from '../helpers/cli.js'
import {hostTruths, skipReason} from '../helpers/ground-truth.js'
import {expectKernelStateKept, isRoot, watched} from '../helpers/kernel-state.js'
import {parseRowStream} from '../helpers/results.js'
import {TCP_WORKLOAD, closedTcpPort} from '../helpers/workload.js'

const NO_SUCH_PID = String(Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1)
const CANDIDATES = tcpdrop.candidates.map((c) => ({id: c.id, needs: c.needs}))
const REFUSED = 3
// A frame as the kernel prints one with its offset: "tcp_v4_rcv+0x91" ("name+0x10 [module]").
const FRAME_WITH_OFFSET = /^[\w.]+\+0x[0-9a-f]+( \[\w+\])?$/

describe.skipIf(!isRoot || !existsSync(TCP_WORKLOAD))('tcpdrop on this host (needs root and test/workload/diag-tcp)', () => {
  expectKernelStateKept()
  // Why a candidate cannot run here, from what the kernel has (its config, peers), not from diag's probe.
  let truths: Map<string, boolean> | undefined
  beforeAll(async () => {
    truths = await hostTruths()
  })
  const missing = (needs: string[]) => skipReason(needs, truths)

  it.for(CANDIDATES)('$id: a row per SYN sent to a closed port, with its reason and its kernel stack named with offsets', async ({id, needs}, context) => {
    if (missing(needs)) return context.skip(missing(needs)!)
    const port = await closedTcpPort()
    const run = await diag(['tcpdrop', '--backend', id, '--json', '--', TCP_WORKLOAD, 'refused', '127.0.0.1', String(port), String(REFUSED)])
    expect(run.exitCode, run.stderr).toBe(0)
    const {rows, summary} = parseRowStream(run.stdout)
    expect(summary.backend).toMatchObject({candidate: id})
    expect(summary.lost).toBe(0)
    const refused = rows.filter((row) => (row.stack as string[]).some((f) => /^tcp_v4_rcv\+0x/.test(f)))
    expect(refused.length, run.stdout).toBeGreaterThanOrEqual(REFUSED)
    // The drops happen in the connecting process's softirq on loopback: all of one process.
    expect(new Set(refused.map((row) => row.pid)).size).toBe(1)
    for (const row of refused) {
      expect(row).toMatchObject({ip: 4, reason: 'NO_SOCKET'})
      for (const frame of row.stack as string[]) expect(frame).toMatch(FRAME_WITH_OFFSET)
      expect(Math.abs(Date.parse(row.time as string) - Date.now())).toBeLessThan(60_000)
      // The BTF backend reads the packet's headers; the others cannot, and say so with null.
      if (id === 'bpf-tp-btf') expect(row).toMatchObject({saddr: '127.0.0.1', daddr: '127.0.0.1', dport: port, flags: 'SYN', state: null})
      else expect(row).toMatchObject({saddr: null, sport: null, daddr: null, dport: null, flags: null, state: null})
    }
  })

  it('bpf-tp-btf reads IPv6 addresses too', async (context) => {
    const {needs} = CANDIDATES.find((c) => c.id === 'bpf-tp-btf')!
    if (missing(needs)) return context.skip(missing(needs)!)
    const port = await closedTcpPort('::1')
    const run = await diag(['tcpdrop', '--backend', 'bpf-tp-btf', '--json', '--', TCP_WORKLOAD, 'refused', '::1', String(port), '1'])
    expect(run.exitCode, run.stderr).toBe(0)
    const row = parseRowStream(run.stdout).rows.find((r) => (r.stack as string[]).some((f) => /^tcp_v6_rcv\+0x/.test(f)))
    expect(row, run.stdout).toMatchObject({ip: 6, saddr: '::1', daddr: '::1', dport: port, flags: 'SYN', reason: 'NO_SOCKET'})
  })

  it.for(CANDIDATES)("$id with a command shows that command's drops only", async ({id, needs}, context) => {
    if (missing(needs)) return context.skip(missing(needs)!)
    const port = await closedTcpPort()
    // Another process's refused connects while diag traces a sleep: none is the sleep's.
    const other = execa('sh', ['-c', `sleep 1; exec ${TCP_WORKLOAD} refused 127.0.0.1 ${port} 5`])
    const run = await diag(['tcpdrop', '--backend', id, '--json', '--', 'sleep', '2.5'])
    await other
    expect(run.exitCode, run.stderr).toBe(0)
    expect(parseRowStream(run.stdout).rows).toEqual([])
  })

  it("text: bcc's columns, then each drop's frames under it", async (context) => {
    const id = CANDIDATES.find((c) => !missing(c.needs))?.id
    if (!id) return context.skip('no tcpdrop candidate is usable here')
    const port = await closedTcpPort()
    const run = await diag(['tcpdrop', '--backend', id, '--', TCP_WORKLOAD, 'refused', '127.0.0.1', String(port), '1'])
    expect(run.exitCode, run.stderr).toBe(0)
    const lines = run.stdout.split('\n')
    expect(lines.some((l) => /^TIME\s+PID IP SADDR\s+SPORT DADDR\s+DPORT STATE\s+FLAGS\s+REASON$/.test(l)), run.stdout).toBe(true)
    const row = lines.findIndex((l) => /^\d\d:\d\d:\d\d\s+\d+\s+4 .* NO_SOCKET$/.test(l))
    expect(row, run.stdout).toBeGreaterThan(0)
    expect(lines.slice(row + 1, row + 4).join('\n')).toMatch(/^ {8}\S+\+0x[0-9a-f]+\n {8}/)
    expect(lines.some((l) => /^ {8}tcp_v4_rcv\+0x[0-9a-f]+$/.test(l))).toBe(true)
  })
})

describe.skipIf(!isRoot)('tcpdrop refuses bad input before touching the kernel', () => {
  expectKernelStateKept()
  it.each([
    [['--pid', NO_SUCH_PID], /no such process/],
    [['--pid', '1', '--', '/bin/true'], /give one/],
  ])('%j is refused with exit 2, having made nothing', async (args, message) => {
    const run = await watched(['tcpdrop', ...args])
    expect(run.exitCode, run.stderr).toBe(EXIT.badInput)
    expect(run.stderr).toMatch(message)
    expect(run.made, run.stderr).toEqual([])
  })
})
