import {describe, expect, it} from 'vitest'

import {parseHist} from '../../backends/ftrace/hist.js'
import {TracefsSession} from '../../backends/ftrace/tracefs-session.js'
import {BadInputError} from '../../src/errors.js'
import {renderTable} from '../../src/result/kinds/table.js'
import {UndoLog} from '../../src/system/undo.js'
import type {HostProbe} from '../../src/probe/probe.js'
import type {Table} from '../../src/result/model.js'
import {trafficOf} from '../../tools/tcptop/bpf.js'
import {kprobeHist, kretprobeMisses, sockHist} from '../../tools/tcptop/ftrace.js'
import {type Traffic, TrafficTable, endpoint, loadavgCaption} from '../../tools/tcptop/table.js'
import {MemoryFiles} from '../helpers/memory-files.js'

/** A struct tcp_key and struct tcp_bytes (tools/tcptop/tcptop.h) as the BPF map holds them. */
function entry(family: number, saddr: number[], daddr: number[], lport: number, dport: number, rx: number, tx: number): [Buffer, Buffer] {
  const key = Buffer.alloc(60)
  key.writeUInt32LE(4321, 0)
  key.writeUInt16LE(family, 4)
  key.writeUInt16BE(lport, 6)
  key.writeUInt16BE(dport, 8)
  Buffer.from(saddr).copy(key, 12)
  Buffer.from(daddr).copy(key, 28)
  key.write('diag-tcp', 44)
  const value = Buffer.alloc(16)
  value.writeBigUInt64LE(BigInt(rx), 0)
  value.writeBigUInt64LE(BigInt(tx), 8)
  return [key, value]
}

const traffic = (pid: number, laddr: string | null, rxBytes: number, txBytes: number): Traffic => ({pid, comm: 'c', laddr, raddr: laddr && '10.0.0.1:80', rxBytes, txBytes})

describe('tcptop', () => {
  it('reads a map entry: IPv4 and IPv6 endpoints with ports in network order, no addresses for family 0', () => {
    expect(trafficOf(...entry(2, [127, 0, 0, 1], [10, 1, 2, 3], 40000, 5432, 2048, 1024))).toEqual({
      pid: 4321,
      comm: 'diag-tcp',
      laddr: '127.0.0.1:40000',
      raddr: '10.1.2.3:5432',
      rxBytes: 2048,
      txBytes: 1024,
    })
    const loopback6 = [...Array(15).fill(0), 1]
    expect(trafficOf(...entry(10, loopback6, [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 2], 1, 443, 0, 1))).toMatchObject({laddr: '[::1]:1', raddr: '[2001:db8::2]:443'})
    expect(trafficOf(...entry(0, [], [], 0, 0, 5, 6))).toMatchObject({laddr: null, raddr: null, rxBytes: 5, txBytes: 6})
    expect(endpoint(new Uint8Array([...Array(10).fill(0), 0xff, 0xff, 192, 0, 2, 1]), 22)).toBe('[::ffff:192.0.2.1]:22')
  })

  it('gives each interval what changed since the last, in unrounded KB, summed by row, top N by the sort column', () => {
    const table = new TrafficTable({top: 2, sort: 'tx'})
    const first = table.next([traffic(1, '127.0.0.1:1', 1024, 512), traffic(1, '127.0.0.1:1', 1024, 0), traffic(2, null, 0, 4096), traffic(3, null, 10, 10)], 'loadavg: x')
    expect(first).toMatchObject({kind: 'table', sortBy: 'txKb', caption: 'loadavg: x'})
    expect(first.rows).toEqual([
      {pid: 2, comm: 'c', laddr: null, raddr: null, rxKb: 0, txKb: 4},
      {pid: 1, comm: 'c', laddr: '127.0.0.1:1', raddr: '10.0.0.1:80', rxKb: 2, txKb: 0.5},
    ])
    // Unchanged rows leave the table; a grown one shows its growth only.
    const second = table.next([traffic(1, '127.0.0.1:1', 2048 + 512, 512), traffic(2, null, 0, 4096), traffic(3, null, 10, 10)])
    expect(second.rows).toEqual([{pid: 1, comm: 'c', laddr: '127.0.0.1:1', raddr: '10.0.0.1:80', rxKb: 0.5, txKb: 0}])
    expect(second.caption).toBeUndefined()
    expect(new TrafficTable({top: 1, sort: 'rx'}).next([traffic(1, null, 1, 9), traffic(2, null, 2, 1)]).rows.map((r) => r.pid)).toEqual([2])
  })

  it('prints "-" where an address is unknown and rounds kilobytes as bcc shows them', () => {
    const data = new TrafficTable({top: 20, sort: 'tx'}).next([traffic(7, null, 400_000, 1_000_000)], 'loadavg: 0.00 0.01 0.05 1/99 7')
    expect(renderTable(data)).toEqual([
      'loadavg: 0.00 0.01 0.05 1/99 7',
      '    PID COMM             LADDR                 RADDR                   RX_KB   TX_KB',
      '      7 c                -                     -                         391     977',
    ])
  })

  it('captions with the load average as /proc/loadavg has it, or none when it cannot be read', async () => {
    expect(await loadavgCaption(async () => '1.86 2.67 2.91 3/362 16681\n')).toBe('loadavg: 1.86 2.67 2.91 3/362 16681')
    expect(await loadavgCaption(async () => Promise.reject(new Error('ENOENT')))).toBeUndefined()
  })

  it("reads a hist trigger's value sums beside its hitcount", () => {
    const hist = parseHist(
      [
        '# event histogram',
        '{ common_pid: diag-tcp        [      1234] } hitcount:         20  bytes:    6000000',
        '{ common_pid: sshd            [        99] } hitcount:          1  bytes:         36',
        'Totals:',
        '    Hits: 21',
        '    Entries: 2',
        '    Dropped: 3',
      ].join('\n'),
    )
    expect(hist.entries).toEqual([
      {keys: {common_pid: {number: 1234, text: 'diag-tcp'}}, hitcount: 20, values: {bytes: 6000000}},
      {keys: {common_pid: {number: 99, text: 'sshd'}}, hitcount: 1, values: {bytes: 36}},
    ])
    expect(hist.dropped).toBe(3)
  })

  it('defines kprobe events with checked fetch arguments, and refuses others before writing', async () => {
    const files = new MemoryFiles()
    const session = new TracefsSession(files, '/t', 4242, new UndoLog())
    expect(await session.kprobe('tcptop', 'send', 'tcp_sendmsg', false, ['bytes=%dx:u64'])).toBe('diag_4242_tcptop/send')
    expect(files.writes.map((w) => w.text)).toEqual(['p:diag_4242_tcptop/send tcp_sendmsg bytes=%dx:u64'])
    for (const bad of ['bytes=%dx u64', 'x=1\n-:other', 'bytes'])
      await expect(session.kprobe('tcptop', 'send', 'tcp_sendmsg', false, [bad])).rejects.toBeInstanceOf(BadInputError)
    expect(files.writes).toHaveLength(1)
  })

  // The hist backends on an in-memory tracefs: what they write, and how they read the sums.
  const T = '/sys/kernel/tracing'
  const HIST = (pid: number, bytes: number) => `{ common_pid: diag-tcp        [${String(pid).padStart(10)}] } hitcount:          4  ${'x'}: ${bytes}\nTotals:\n    Hits: 4\n    Entries: 1\n    Dropped: 0\n`
  async function runHist(runner: typeof sockHist, hists: Record<string, string>) {
    const files = new MemoryFiles()
    files.dirs.add(`${T}/instances`)
    files.files.set('/proc/loadavg', '0.50 0.40 0.30 1/80 999\n')
    const undo = new UndoLog()
    const probe = {tracefs: T, capabilities: []} as unknown as HostProbe
    const collector = await runner.start({options: {top: 20, sort: 'tx'}, probe, files, undo, pid: 4242, targetPid: 77, signal: new AbortController().signal})
    const dir = `${T}/instances/diag-4242-tcptop`
    for (const [event, text] of Object.entries(hists)) files.files.set(`${dir}/events/${event}/hist`, text)
    const data = (await collector.collect()) as Table
    return {files, undo, data, collector}
  }

  it('ftrace-sock-hist: sums ret of TCP sends and non-peeking receives by thread, in an instance following the process', async () => {
    // No /proc entry for this thread id: it stands for its process.
    const tid = 2 ** 22 + 11
    const {files, undo, data, collector} = await runHist(sockHist, {
      'sock/sock_send_length': HIST(tid, 1_228_800).replace('x:', 'ret:'),
      'sock/sock_recv_length': HIST(tid, 409_600).replace('x:', 'ret:'),
    })
    const triggers = files.writes.filter((w) => w.path.endsWith('/trigger')).map((w) => w.text)
    expect(triggers).toEqual([
      'hist:keys=common_pid.execname:vals=ret:sort=ret:size=8192 if protocol == 6 && (family == 2 || family == 10) && ret > 0',
      'hist:keys=common_pid.execname:vals=ret:sort=ret:size=8192 if protocol == 6 && (family == 2 || family == 10) && ret > 0 && !(flags & 2)',
    ])
    expect(files.writes.some((w) => w.path.endsWith('/set_event_pid') && w.text === '77')).toBe(true)
    expect(data.rows).toEqual([{pid: tid, comm: 'diag-tcp', laddr: null, raddr: null, rxKb: 400, txKb: 1200}])
    expect(data.caption).toBe('loadavg: 0.50 0.40 0.30 1/80 999')
    expect(await collector.lost()).toBe(0)
    expect(await undo.unwind()).toEqual([])
  })

  it('ftrace-kprobe-hist: a kprobe event fetches the size from its register, a kretprobe event the bytes read, summed the same way', async (context) => {
    if (process.arch !== 'x64') return context.skip('the expected registers are x64 ones')
    const tid = 2 ** 22 + 12
    const {files, data} = await runHist(kprobeHist, {
      'diag_4242_tcptop/send': HIST(tid, 3000).replace('x:', 'bytes:'),
      'diag_4242_tcptop/receive': HIST(tid, 1024).replace('x:', 'bytes:'),
    })
    expect(files.writes.filter((w) => w.path === `${T}/kprobe_events`).map((w) => w.text)).toEqual([
      'p:diag_4242_tcptop/send tcp_sendmsg bytes=%dx:u64',
      'r:diag_4242_tcptop/receive tcp_recvmsg bytes=$retval:s32',
    ])
    expect(data.rows).toEqual([{pid: tid, comm: 'diag-tcp', laddr: null, raddr: null, rxKb: 1, txKb: 3000 / 1024}])
  })

  it("counts a kretprobe's misses (reads that returned unseen) as lost, whichever way kprobe_profile names the event", async () => {
    const profile = (text: string) => ({read: async () => text})
    expect(await kretprobeMisses(profile('  diag_1_tcptop/send   10   0\n  diag_1_tcptop/receive   40   3\n'), 'diag_1_tcptop/receive')).toBe(3)
    expect(await kretprobeMisses(profile('  send   10   0\n  receive   40   7\n'), 'diag_1_tcptop/receive')).toBe(7)
    expect(await kretprobeMisses({read: async () => Promise.reject(new Error('ENOENT'))}, 'diag_1_tcptop/receive')).toBe(0)
  })
})
