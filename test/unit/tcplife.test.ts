import {describe, expect, it} from 'vitest'

import {parseTraceLine} from '../../backends/ftrace/trace-pipe.js'
import {BadInputError} from '../../src/errors.js'
import {formatIp} from '../../src/net/address.js'
import {decodeSession, ipv6Offsets} from '../../tools/tcplife/bpf.js'
import {SessionTracker, addressBytes} from '../../tools/tcplife/ftrace.js'
import {sessionRow} from '../../tools/tcplife/session.js'
import {tcplife} from '../../tools/tcplife/tool.js'

// One diag-tcp client session (pid 1022) to a server (pid 1013) listening on 44215, as the 6.18 VM
// recorded it (with record-tgid): the client's SYN_SENT has no local port yet, and its close comes
// in the server's context (the server's FIN, processed as the server sends it).
const V4 = [
  ' diag-tcp-1013 (   1013) [001] ..... 23169.318265: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=44215 dport=0 saddr=127.0.0.1 daddr=0.0.0.0 saddrv6=::ffff:127.0.0.1 daddrv6=:: oldstate=TCP_CLOSE newstate=TCP_LISTEN',
  ' diag-tcp-1022 (   1022) [001] ..... 23169.620288: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=0 dport=44215 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_CLOSE newstate=TCP_SYN_SENT',
  ' diag-tcp-1022 (   1022) [001] ..... 23169.620386: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=53074 dport=44215 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_SYN_SENT newstate=TCP_ESTABLISHED',
  ' diag-tcp-1022 (   1022) [001] ..s2. 23169.620396: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=44215 dport=53074 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_LISTEN newstate=TCP_SYN_RECV',
  ' diag-tcp-1022 (   1022) [001] ..s2. 23169.620402: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=44215 dport=53074 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_SYN_RECV newstate=TCP_ESTABLISHED',
  ' diag-tcp-1022 (   1022) [001] ..... 23169.620527: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=53074 dport=44215 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_ESTABLISHED newstate=TCP_FIN_WAIT1',
  ' diag-tcp-1022 (   1022) [001] ..s2. 23169.620530: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=44215 dport=53074 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_ESTABLISHED newstate=TCP_CLOSE_WAIT',
  ' diag-tcp-1013 (   1013) [001] ..s2. 23169.620543: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=53074 dport=44215 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_FIN_WAIT1 newstate=TCP_FIN_WAIT2',
  ' diag-tcp-1013 (   1013) [001] ..... 23169.620550: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=44215 dport=53074 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_CLOSE_WAIT newstate=TCP_LAST_ACK',
  ' diag-tcp-1013 (   1013) [001] ..s2. 23169.620557: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=53074 dport=44215 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_FIN_WAIT2 newstate=TCP_CLOSE',
  ' diag-tcp-1013 (   1013) [001] ..... 23169.620561: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=44215 dport=53074 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_LAST_ACK newstate=TCP_CLOSE',
  ' diag-tcp-1013 (   1013) [001] ..... 23169.621784: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=44215 dport=0 saddr=127.0.0.1 daddr=0.0.0.0 saddrv6=::ffff:127.0.0.1 daddrv6=:: oldstate=TCP_LISTEN newstate=TCP_CLOSE',
]

// Monotonic seconds as a wall-clock time, fixed for the tests: the epoch plus them.
const clock = (seconds: number) => new Date(Math.round(seconds * 1000)).toISOString()

const run = (tracker: SessionTracker, lines: string[]) => lines.flatMap((text) => {
  const session = tracker.line(parseTraceLine(text)!)
  return session ? [sessionRow(session, 'ftrace-stream', clock)] : []
})


describe('tcplife from the inet_sock_set_state event stream (SessionTracker)', () => {
  it('makes a row per closed session, the owner from its system calls, the listener none, the bytes null', () => {
    const rows = run(new SessionTracker(undefined), V4)
    expect(rows).toEqual([
      {time: clock(23169.620557), start: clock(23169.620288), pid: 1022, comm: 'diag-tcp', laddr: '127.0.0.1', lport: 53074, raddr: '127.0.0.1', rport: 44215, txKb: null, rxKb: null, ms: 0.269, backend: 'ftrace-stream'},
      {time: clock(23169.620561), start: clock(23169.620396), pid: 1013, comm: 'diag-tcp', laddr: '127.0.0.1', lport: 44215, raddr: '127.0.0.1', rport: 53074, txKb: null, rxKb: null, ms: 0.165, backend: 'ftrace-stream'},
    ])
  })

  it('makes no row of a child that closes from SYN_RECV: the duplicate of a handshake two CPUs completed at once, or a lone one dropped', () => {
    // The client's ACK and its first data both complete the handshake, each on its CPU: the
    // listener clones two children with the same addresses; the kernel keeps one and closes the other.
    const clone = V4[3].replace('[001]', '[000]').replace('23169.620396', '23169.620397')
    const duplicateClosed = clone.replace('23169.620397', '23169.620404').replace('oldstate=TCP_LISTEN newstate=TCP_SYN_RECV', 'oldstate=TCP_SYN_RECV newstate=TCP_CLOSE')
    const raced = [...V4.slice(0, 4), clone, V4[4], duplicateClosed, ...V4.slice(5)]
    expect(run(new SessionTracker(undefined), raced)).toEqual(run(new SessionTracker(undefined), V4))
    // The same, the duplicate closing before the kept child is established.
    expect(run(new SessionTracker(undefined), [...V4.slice(0, 4), clone, duplicateClosed, ...V4.slice(4)])).toEqual(run(new SessionTracker(undefined), V4))
    // A lone child closed from SYN_RECV: no row, and nothing left behind for the next session with its addresses.
    const tracker = new SessionTracker(undefined)
    expect(run(tracker, [V4[3], V4[3].replace('oldstate=TCP_LISTEN newstate=TCP_SYN_RECV', 'oldstate=TCP_SYN_RECV newstate=TCP_CLOSE')])).toEqual([])
    expect(run(tracker, V4)).toEqual(run(new SessionTracker(undefined), V4))
  })

  it('keeps only sessions the traced threads owned, following their forks', () => {
    expect(run(new SessionTracker(new Set([1022])), V4).map((r) => r.pid)).toEqual([1022])
    expect(run(new SessionTracker(new Set([1013])), V4).map((r) => r.pid)).toEqual([1013])
    const fork = ' sh-1000 (   1000) [000] ..... 23169.100000: sched_process_fork: comm=sh pid=1000 child_comm=sh child_pid=1022'
    expect(run(new SessionTracker(new Set([1000])), [fork, ...V4]).map((r) => r.pid)).toEqual([1022])
    expect(run(new SessionTracker(new Set([1000])), V4)).toEqual([])
  })

  it('follows an IPv6 session, and one whose beginning it did not see (no owner, no duration: null)', () => {
    const v6 = (pid: number, ts: string, sport: number, oldstate: string, newstate: string) =>
      ` diag-tcp-${pid} (   ${pid}) [000] ..... ${ts}: inet_sock_set_state: family=AF_INET6 protocol=IPPROTO_TCP sport=${sport} dport=45409 saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=::1 daddrv6=::1 oldstate=${oldstate} newstate=${newstate}`
    const lines = [
      v6(7, '10.000000', 0, 'TCP_CLOSE', 'TCP_SYN_SENT'),
      v6(7, '10.000100', 45042, 'TCP_SYN_SENT', 'TCP_ESTABLISHED'),
      v6(7, '10.000200', 45042, 'TCP_ESTABLISHED', 'TCP_FIN_WAIT1'),
      v6(8, '10.003840', 45042, 'TCP_FIN_WAIT2', 'TCP_CLOSE'),
      v6(8, '11.000000', 45050, 'TCP_FIN_WAIT2', 'TCP_CLOSE'),
    ]
    expect(run(new SessionTracker(undefined), lines)).toEqual([
      {time: '1970-01-01T00:00:10.004Z', start: '1970-01-01T00:00:10.000Z', pid: 7, comm: 'diag-tcp', laddr: '::1', lport: 45042, raddr: '::1', rport: 45409, txKb: null, rxKb: null, ms: 3.84, backend: 'ftrace-stream'},
      {time: '1970-01-01T00:00:11.000Z', start: null, pid: null, comm: null, laddr: '::1', lport: 45050, raddr: '::1', rport: 45409, txKb: null, rxKb: null, ms: null, backend: 'ftrace-stream'},
    ])
  })

  it('reads the addresses the kernel prints (%pI4, %pI6c) back to their bytes', () => {
    for (const text of ['127.0.0.1', '::1', '::', '::ffff:127.0.0.1', 'fe80::1:2', '2001:db8::8:800:200c:417a', '1:2:3:4:5:6:7:8'])
      expect(formatIp(addressBytes(text))).toBe(text)
  })
})

describe("tcplife's BPF record (tcplife.h struct tcplife_event)", () => {
  const record = (known: number, family: number) => {
    const r = Buffer.alloc(100) // a perf buffer pads the 96 bytes
    r.writeBigUInt64LE(3_000_000n, 0) // 3 ms
    r.writeBigUInt64LE(86_400_250_000_000n, 8) // closed a day and 250 ms after boot
    r.writeBigUInt64LE(100_000n, 16)
    r.writeBigUInt64LE(51_200n, 24)
    r.writeUInt32LE(4242, 32)
    r.writeUInt16LE(40000, 36)
    r.writeUInt16LE(443, 38)
    r.writeUInt16LE(family, 40)
    r.writeUInt8(known, 42)
    r.write('curl\0', 44)
    Buffer.from(family === 2 ? [10, 0, 0, 1] : [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1]).copy(r, 60)
    Buffer.from(family === 2 ? [10, 0, 0, 2] : [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 2]).copy(r, 76)
    return r
  }

  it('reads every field at its offset, and what the program did not know as null', () => {
    expect(sessionRow(decodeSession(record(7, 2)), 'bpf-tp-btf', clock)).toEqual({
      time: '1970-01-02T00:00:00.250Z', start: '1970-01-02T00:00:00.247Z',
      pid: 4242, comm: 'curl', laddr: '10.0.0.1', lport: 40000, raddr: '10.0.0.2', rport: 443, txKb: 97.65625, rxKb: 50, ms: 3, backend: 'bpf-tp-btf',
    })
    expect(sessionRow(decodeSession(record(0, 10)), 'bpf-tracepoint', clock)).toEqual({
      time: '1970-01-02T00:00:00.250Z', start: null,
      pid: null, comm: null, laddr: '2001:db8::1', lport: 40000, raddr: '2001:db8::2', rport: 443, txKb: null, rxKb: null, ms: null, backend: 'bpf-tracepoint',
    })
  })

  it('turns the close on the monotonic clock into wall-clock time as tcpdrop does (src/system/clock.ts wallTime)', () => {
    // Without a clock of its own, the row's time is the close's distance before now, from now.
    const nowMonotonic = Number(process.hrtime.bigint()) / 1e9
    const r = record(7, 2)
    r.writeBigUInt64LE(BigInt(Math.round((nowMonotonic - 60) * 1e9)), 8)
    const row = sessionRow(decodeSession(r), 'bpf-tp-btf')
    expect(Math.abs(Date.now() - 60_000 - Date.parse(String(row.time)))).toBeLessThan(1000)
    expect(Date.parse(String(row.time)) - Date.parse(String(row.start))).toBeGreaterThanOrEqual(2)
  })
})

describe('tcplife options', () => {
  const options = (flags: Record<string, unknown>) => tcplife.options({flags: flags as never, args: {} as never})
  it('takes port lists, and refuses anything but ports from 1 to 65535 as bad input', () => {
    expect(options({'local-port': '80, 443', 'remote-port': '5432'})).toEqual({pid: undefined, localPorts: [80, 443], remotePorts: [5432]})
    for (const bad of ['0', '65536', 'http', '80,', '-1']) expect(() => options({'local-port': bad})).toThrow(BadInputError)
  })
})

describe("tcplife's kprobe: where struct sock_common keeps the IPv6 addresses", () => {
  it('after skc_net with network namespaces (as 6.18 BTF shows: 56 and 72), right after skc_prot without', () => {
    expect(ipv6Offsets(true)).toEqual({daddr: 56, rcvSaddr: 72})
    expect(ipv6Offsets(false)).toEqual({daddr: 48, rcvSaddr: 64})
  })
})
