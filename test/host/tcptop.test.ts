import {existsSync} from 'node:fs'

import {execa} from 'execa'
import {beforeAll, describe, expect, it} from 'vitest'

import type {Table, ToolResult} from '../../src/result/model.js'
import {diag, startDiag, tracingStarted} from '../helpers/cli.js'
import {expectKernelStateKept, isRoot} from '../helpers/kernel-state.js'
import {schemaErrors} from '../helpers/schema.js'
import {TCP_WORKLOAD, withTcpServer} from '../helpers/workload.js'
import {tcptop} from '../../tools/tcptop/tool.js'
import {hostTruths, skipReason} from '../helpers/ground-truth.js'

const CANDIDATES = tcptop.candidates.map((c) => ({id: c.id, needs: c.needs}))
// Each of the client's sessions sends SEND bytes and gets REPLY back: the known answer.
const SESSIONS = 4
const SEND = 1_000_000
const REPLY = 400_000
const near = (value: number, expected: number) => expect(Math.abs(value - expected), `${value} vs ${expected}`).toBeLessThanOrEqual(expected * 0.05)

/** Text rows of every table printed: PID COMM LADDR RADDR RX_KB TX_KB. */
function textRows(stdout: string): {pid: number; comm: string; laddr: string; raddr: string; rxKb: number; txKb: number}[] {
  return [...stdout.matchAll(/^\s*(\d+) (\S+)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\d+)$/gm)].map((m) => ({
    pid: Number(m[1]),
    comm: m[2],
    laddr: m[3],
    raddr: m[4],
    rxKb: Number(m[5]),
    txKb: Number(m[6]),
  }))
}

describe.skipIf(!isRoot || !existsSync(TCP_WORKLOAD))('tcptop on this host (needs root and test/workload/diag-tcp)', () => {
  expectKernelStateKept()
  // Why a candidate cannot run here, from what the kernel has (its config, peers), not from diag's probe.
  let truths: Map<string, boolean> | undefined
  beforeAll(async () => {
    truths = await hostTruths()
  })
  const missing = (needs: string[]) => skipReason(needs, truths)

  it('diag tcptop -i 1, system-wide, shows a client started after it with its pid, connections and bytes within 5%', async () => {
    await withTcpServer('127.0.0.1', REPLY, async (port) => {
      const tracer = startDiag(['tcptop', '-i', '1', '-d', '4', '--top', '200'])
      await tracingStarted(tracer, 'Hit Ctrl-C to end')
      const started = execa(TCP_WORKLOAD, ['client', '127.0.0.1', String(port), String(SESSIONS), String(SEND)])
      const client = {pid: started.pid, stdout: (await started).stdout}
      const run = await tracer
      expect(run.exitCode, String(run.stderr)).toBe(0)
      const stdout = String(run.stdout)
      expect(stdout).toMatch(/^tcptop: bpf backend \(bpf-tp-btf: /m)
      // Each interval: its time, the load average, the header (or "no events").
      expect(stdout).toMatch(/^loadavg: \d+\.\d+ \d+\.\d+ \d+\.\d+ \d+\/\d+ \d+$/m)
      expect(stdout).toMatch(/^\s+PID COMM\s+LADDR\s+RADDR\s+RX_KB\s+TX_KB$/m)
      const rows = textRows(stdout).filter((r) => r.pid === client.pid)
      const lports = client.stdout.match(/lport (\d+)/g)!.map((l) => `127.0.0.1:${l.split(' ')[1]}`)
      expect(new Set(rows.map((r) => r.laddr))).toEqual(new Set(lports))
      for (const row of rows) expect(row).toMatchObject({comm: 'diag-tcp', raddr: `127.0.0.1:${port}`})
      // Text rounds each row to whole kilobytes: at most half a KB off per row and interval.
      near(rows.reduce((s, r) => s + r.txKb, 0) * 1024, SESSIONS * SEND)
      near(rows.reduce((s, r) => s + r.rxKb, 0) * 1024, SESSIONS * REPLY)
    })
  })

  it('--pid: only that process, a server here, whose bytes mirror its client\'s', async () => {
    const server = execa(TCP_WORKLOAD, ['server', '127.0.0.1', String(REPLY)], {reject: false, buffer: false})
    try {
      const port = await new Promise<number>((resolve) => server.stdout!.on('data', (chunk: Buffer) => resolve(Number(/port (\d+)/.exec(String(chunk))![1]))))
      const tracer = startDiag(['tcptop', '--pid', String(server.pid), '-d', '3', '--json'])
      await tracingStarted(tracer, 'Hit Ctrl-C to end')
      await execa(TCP_WORKLOAD, ['client', '127.0.0.1', String(port), String(SESSIONS), String(SEND)])
      const run = await tracer
      expect(run.exitCode, String(run.stderr)).toBe(0)
      const rows = (JSON.parse(String(run.stdout)) as ToolResult).intervals.flatMap((i) => (i.data as Table).rows)
      expect(new Set(rows.map((r) => r.pid))).toEqual(new Set([server.pid]))
      expect(rows.every((r) => r.laddr === `127.0.0.1:${port}`)).toBe(true)
      expect(rows.reduce((s, r) => s + Number(r.rxKb), 0) * 1024).toBe(SESSIONS * SEND)
      expect(rows.reduce((s, r) => s + Number(r.txKb), 0) * 1024).toBe(SESSIONS * REPLY)
    } finally {
      server.kill('SIGKILL')
      await server
    }
  })

  it.for(CANDIDATES)('$id: a traced command, as JSON: its bytes exactly, by connection where it sees them', async ({id, needs}, context) => {
    if (missing(needs)) return context.skip(missing(needs)!)
    await withTcpServer('::1', REPLY, async (port) => {
      const run = await diag(['tcptop', '--backend', id, '--json', '--', TCP_WORKLOAD, 'client', '::1', String(port), String(SESSIONS), String(SEND)])
      expect(run.exitCode, run.stderr).toBe(0)
      const result = JSON.parse(run.stdout) as ToolResult
      expect(schemaErrors('result', result)).toBe('')
      expect(result.backend.candidate).toBe(id)
      expect(result.lost).toBe(0)
      const data = result.intervals[0].data as Table
      expect(data.caption).toMatch(/^loadavg: /)
      const pids = new Set(data.rows.map((r) => r.pid))
      expect(pids.size).toBe(1)
      const sum = (column: string) => data.rows.reduce((s, r) => s + Number(r[column]), 0) * 1024
      // Blocking writes and reads to the end: every byte, not just within 5%.
      expect(sum('txKb')).toBe(SESSIONS * SEND)
      expect(sum('rxKb')).toBe(SESSIONS * REPLY)
      if (['bpf-tp-btf', 'bpf-fentry', 'bpf-kprobe-btf'].includes(id)) {
        expect(data.rows).toHaveLength(SESSIONS)
        for (const row of data.rows) {
          expect(row.laddr).toMatch(/^\[::1\]:\d+$/)
          expect(row.raddr).toBe(`[::1]:${port}`)
        }
      } else {
        expect(data.rows).toHaveLength(1)
        expect(data.rows[0]).toMatchObject({comm: 'diag-tcp', laddr: null, raddr: null})
      }
    })
  })

  it('prints "-" for the addresses a backend cannot know, and --top keeps the busiest rows by --sort', async (context) => {
    const tracepoint = CANDIDATES.find((c) => c.id === 'bpf-tracepoint')!
    if (missing(tracepoint.needs)) return context.skip(missing(tracepoint.needs)!)
    await withTcpServer('127.0.0.1', REPLY, async (port) => {
      const run = await diag(['tcptop', '--backend', 'bpf-tracepoint', '--', TCP_WORKLOAD, 'client', '127.0.0.1', String(port), '1', String(SEND)])
      expect(run.exitCode, run.stderr).toBe(0)
      expect(run.stdout).toMatch(/^\s+\d+ diag-tcp\s+-\s+-\s+391\s+977$/m)
      // Two clients, one sending 1000 bytes, the other 50000: the top row by bytes sent is the second's.
      const twoClients = `'${TCP_WORKLOAD}' client 127.0.0.1 ${port} 1 1000 && '${TCP_WORKLOAD}' client 127.0.0.1 ${port} 1 50000`
      const top = await diag(['tcptop', '--backend', 'bpf-tracepoint', '--top', '1', '--sort', 'tx', '--json', '--', 'sh', '-c', twoClients])
      expect(top.exitCode, top.stderr).toBe(0)
      const data = (JSON.parse(top.stdout) as ToolResult).intervals[0].data as Table
      expect(data.sortBy).toBe('txKb')
      expect(data.rows).toHaveLength(1)
      expect(Number(data.rows[0].txKb) * 1024).toBe(50000)
    })
  })
})
