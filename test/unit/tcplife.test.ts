import {describe, expect, it} from 'vitest'

import type {RawEvent} from '../../backends/ftrace/ring-buffer.js'
import {BadInputError} from '../../src/errors.js'
import {formatIp} from '../../src/net/address.js'
import {decodeSession, ipv6Offsets} from '../../tools/tcplife/bpf.js'
import type {ThreadInfo} from '../../src/system/threads.js'
import {FORK_FIELDS, STATE_FIELDS, SessionTracker} from '../../tools/tcplife/ftrace.js'
import {sessionRow} from '../../tools/tcplife/session.js'
import {tcplife} from '../../tools/tcplife/tool.js'
import {INET_SOCK_SET_STATE, RecordRoundTrip, SCHED_PROCESS_FORK, TCP_STATES} from '../helpers/event-records.js'

const events = new RecordRoundTrip({
  'sock/inet_sock_set_state': {text: INET_SOCK_SET_STATE, fields: STATE_FIELDS},
  'sched/sched_process_fork': {text: SCHED_PROCESS_FORK, fields: FORK_FIELDS},
})
const STATES = TCP_STATES
type State = keyof typeof STATES
const LOOPBACK = [127, 0, 0, 1]
const ANY = [0, 0, 0, 0]
const MAPPED_PREFIX = [...Array(10).fill(0), 0xff, 0xff]
const V6_LOOPBACK = [...Array(15).fill(0), 1]

/**
 * An inet_sock_set_state record of socket `sk`, encoded as the 6.18 format lays it out and decoded by
 * the raw reader: IPv4 (the IPv6 fields holding the mapped addresses, as the kernel fills them), or
 * IPv6 (`v4` null).
 */
function stateChange(sk: bigint, pid: number, timestamp: number, sport: number, dport: number, old: State, now: State, v4: {saddr: number[]; daddr: number[]} | null = {saddr: LOOPBACK, daddr: LOOPBACK}) {
  const v6 = !v4
  return events.event('sock/inet_sock_set_state', pid, timestamp, {
    skaddr: sk,
    family: v6 ? 10 : 2,
    protocol: 6,
    sport,
    dport,
    oldstate: STATES[old],
    newstate: STATES[now],
    saddr: Uint8Array.from(v6 ? ANY : v4.saddr),
    daddr: Uint8Array.from(v6 ? ANY : v4.daddr),
    saddr_v6: Uint8Array.from(v6 ? V6_LOOPBACK : [...MAPPED_PREFIX, ...v4.saddr]),
    daddr_v6: Uint8Array.from(v6 ? V6_LOOPBACK : [...MAPPED_PREFIX, ...v4.daddr]),
  })
}

// One diag-tcp client session (pid 1022) to a server (pid 1013) listening on 44215, as the 6.18 VM
// recorded it: the client's SYN_SENT has no local port yet, and its close comes in the server's
// context (the server's FIN, processed as the server sends it). Three sockets: the listener, the
// client's, and the child the listener made for it.
const [LISTENER, CLIENT, CHILD] = [0xffff8881_04e1_a000n, 0xffff8881_04e1_c600n, 0xffff8881_04e1_d900n]
const V4 = [
  stateChange(LISTENER, 1013, 23169.318265, 44215, 0, 'CLOSE', 'LISTEN', {saddr: LOOPBACK, daddr: ANY}),
  stateChange(CLIENT, 1022, 23169.620288, 0, 44215, 'CLOSE', 'SYN_SENT'),
  stateChange(CLIENT, 1022, 23169.620386, 53074, 44215, 'SYN_SENT', 'ESTABLISHED'),
  stateChange(CHILD, 1022, 23169.620396, 44215, 53074, 'LISTEN', 'SYN_RECV'),
  stateChange(CHILD, 1022, 23169.620402, 44215, 53074, 'SYN_RECV', 'ESTABLISHED'),
  stateChange(CLIENT, 1022, 23169.620527, 53074, 44215, 'ESTABLISHED', 'FIN_WAIT1'),
  stateChange(CHILD, 1022, 23169.62053, 44215, 53074, 'ESTABLISHED', 'CLOSE_WAIT'),
  stateChange(CLIENT, 1013, 23169.620543, 53074, 44215, 'FIN_WAIT1', 'FIN_WAIT2'),
  stateChange(CHILD, 1013, 23169.62055, 44215, 53074, 'CLOSE_WAIT', 'LAST_ACK'),
  stateChange(CLIENT, 1013, 23169.620557, 53074, 44215, 'FIN_WAIT2', 'CLOSE'),
  stateChange(CHILD, 1013, 23169.620561, 44215, 53074, 'LAST_ACK', 'CLOSE'),
  stateChange(LISTENER, 1013, 23169.621784, 44215, 0, 'LISTEN', 'CLOSE', {saddr: LOOPBACK, daddr: ANY}),
]

// Both are single-threaded processes of that name; 1000 (the traced shell in one test) is another.
const threads: ThreadInfo = {groupOf: (tid) => tid, nameOf: (tid) => (tid === 1000 ? 'sh' : 'diag-tcp')}
// Monotonic seconds as a wall-clock time, fixed for the tests: the epoch plus them.
const clock = (seconds: number) => new Date(Math.round(seconds * 1000)).toISOString()

const run = (tracker: SessionTracker, list: RawEvent[]) =>
  list.flatMap((event) => {
    const session = tracker.event(event)
    return session ? [sessionRow(session, 'ftrace-stream', clock)] : []
  })

describe('tcplife from the inet_sock_set_state event stream (SessionTracker, trace_pipe_raw records)', () => {
  it('decodes the addresses as bytes: IPv4 from saddr and daddr, IPv6 from saddr_v6 and daddr_v6; the socket as its address', () => {
    expect(V4[2].fields).toMatchObject({skaddr: '0xffff888104e1c600', family: 2, protocol: 6, sport: 53074, dport: 44215, oldstate: 2, newstate: 1, saddr: Uint8Array.from(LOOPBACK)})
    expect(formatIp(V4[2].fields.daddr_v6 as Uint8Array)).toBe('::ffff:127.0.0.1')
  })

  it('makes a row per closed session, the owner from its system calls, the listener none, the bytes null', () => {
    const rows = run(new SessionTracker(threads), V4)
    expect(rows).toEqual([
      {time: clock(23169.620557), start: clock(23169.620288), pid: 1022, comm: 'diag-tcp', laddr: '127.0.0.1', lport: 53074, raddr: '127.0.0.1', rport: 44215, txKb: null, rxKb: null, ms: 0.269, backend: 'ftrace-stream'},
      {time: clock(23169.620561), start: clock(23169.620396), pid: 1013, comm: 'diag-tcp', laddr: '127.0.0.1', lport: 44215, raddr: '127.0.0.1', rport: 53074, txKb: null, rxKb: null, ms: 0.165, backend: 'ftrace-stream'},
    ])
  })

  it("names the owner's process, not its thread", () => {
    const rows = run(new SessionTracker({groupOf: (tid) => (tid === 1022 ? 1020 : tid), nameOf: () => 'diag-tcp'}), V4)
    expect(rows.map((r) => r.pid)).toEqual([1020, 1013])
  })

  it('makes no row of a child that closes from SYN_RECV: the duplicate of a handshake two CPUs completed at once, or a lone one dropped', () => {
    // The client's ACK and its first data both complete the handshake, each on its CPU: the
    // listener clones two children with the same addresses; the kernel keeps one and closes the other.
    // The duplicate is a socket of its own.
    const at = (e: RawEvent, cpu: number, timestamp: number, fields: Record<string, number | string> = {}): RawEvent => ({...e, cpu, timestamp, fields: {...e.fields, ...fields}})
    const dropped = {oldstate: STATES.SYN_RECV, newstate: STATES.CLOSE}
    const duplicate = {skaddr: '0xffff888104e1f200'}
    const clone = at(V4[3], 0, 23169.620397, duplicate)
    const duplicateClosed = at(V4[3], 0, 23169.620404, {...duplicate, ...dropped})
    const raced = [...V4.slice(0, 4), clone, V4[4], duplicateClosed, ...V4.slice(5)]
    expect(run(new SessionTracker(threads), raced)).toEqual(run(new SessionTracker(threads), V4))
    // The same, the duplicate closing before the kept child is established.
    expect(run(new SessionTracker(threads), [...V4.slice(0, 4), clone, duplicateClosed, ...V4.slice(4)])).toEqual(run(new SessionTracker(threads), V4))
    // A lone child closed from SYN_RECV: no row, and nothing left behind for the next session with its addresses.
    const tracker = new SessionTracker(threads)
    expect(run(tracker, [V4[3], at(V4[3], V4[3].cpu, V4[3].timestamp, dropped)])).toEqual([])
    expect(run(tracker, V4)).toEqual(run(new SessionTracker(threads), V4))
  })

  it('keeps only sessions the traced threads owned, following their forks', () => {
    expect(run(new SessionTracker(threads, new Set([1022])), V4).map((r) => r.pid)).toEqual([1022])
    expect(run(new SessionTracker(threads, new Set([1013])), V4).map((r) => r.pid)).toEqual([1013])
    const fork = events.event('sched/sched_process_fork', 1000, 23169.1, {parent_pid: 1000, child_pid: 1022})
    expect(fork.fields).toEqual({parent_pid: 1000, child_pid: 1022})
    expect(run(new SessionTracker(threads, new Set([1000])), [fork, ...V4]).map((r) => r.pid)).toEqual([1022])
    expect(run(new SessionTracker(threads, new Set([1000])), V4)).toEqual([])
  })

  it('follows an IPv6 session, and one whose beginning it did not see (no owner, no duration: null)', () => {
    const v6 = (sk: bigint, pid: number, ts: number, sport: number, old: State, now: State) => stateChange(sk, pid, ts, sport, 45409, old, now, null)
    const list = [
      v6(0x7000n, 7, 10.0, 0, 'CLOSE', 'SYN_SENT'),
      v6(0x7000n, 7, 10.0001, 45042, 'SYN_SENT', 'ESTABLISHED'),
      v6(0x7000n, 7, 10.0002, 45042, 'ESTABLISHED', 'FIN_WAIT1'),
      v6(0x7000n, 8, 10.00384, 45042, 'FIN_WAIT2', 'CLOSE'),
      v6(0x8000n, 8, 11.0, 45050, 'FIN_WAIT2', 'CLOSE'),
    ]
    expect(run(new SessionTracker(threads), list)).toEqual([
      {time: '1970-01-01T00:00:10.004Z', start: '1970-01-01T00:00:10.000Z', pid: 7, comm: 'diag-tcp', laddr: '::1', lport: 45042, raddr: '::1', rport: 45409, txKb: null, rxKb: null, ms: 3.84, backend: 'ftrace-stream'},
      {time: '1970-01-01T00:00:11.000Z', start: null, pid: null, comm: null, laddr: '::1', lport: 45050, raddr: '::1', rport: 45409, txKb: null, rxKb: null, ms: null, backend: 'ftrace-stream'},
    ])
  })

  // What addresses and ports cannot tell apart, and the socket can.
  const session = (sk: bigint, pid: number, times: [number, number, number], lport: number, rport: number): RawEvent[] => [
    stateChange(sk, pid, times[0], 0, rport, 'CLOSE', 'SYN_SENT'),
    stateChange(sk, pid, times[1], lport, rport, 'SYN_SENT', 'ESTABLISHED'),
    stateChange(sk, pid, times[2], lport, rport, 'ESTABLISHED', 'FIN_WAIT1'),
    stateChange(sk, 1013, times[2] + 0.01, lport, rport, 'FIN_WAIT1', 'FIN_WAIT2'),
    stateChange(sk, 1013, times[2] + 0.02, lport, rport, 'FIN_WAIT2', 'CLOSE'),
  ]
  const byTime = (...lists: RawEvent[][]) => lists.flat().sort((a, b) => a.timestamp - b.timestamp)
  const summary = (r: Record<string, unknown>) => ({pid: r.pid, lport: r.lport, start: r.start, time: r.time})

  it('gives each of two connects to the same remote address and port its own owner and start, the later handshake ending first', () => {
    // Before its SYN_SENT a connecting socket has no local port: only the socket says whose it is.
    const rows = run(new SessionTracker(threads), byTime(session(0xa000n, 7, [1.0, 1.3, 2.0], 40001, 44215), session(0xb000n, 8, [1.1, 1.2, 3.0], 40002, 44215)))
    expect(rows.map(summary)).toEqual([
      {pid: 7, lport: 40001, start: clock(1.0), time: clock(2.02)},
      {pid: 8, lport: 40002, start: clock(1.1), time: clock(3.02)},
    ])
  })

  it('keeps apart two sockets with the same addresses and ports at once (two network namespaces, each its own 127.0.0.1), their listeners\' children too', () => {
    // The servers' side: each child made by its listener, owned by its server from its LAST_ACK.
    const served = (sk: bigint, pid: number, at: number, end: number): RawEvent[] => [
      stateChange(sk, pid, at, 44215, 53074, 'LISTEN', 'SYN_RECV'),
      stateChange(sk, pid, at + 0.001, 44215, 53074, 'SYN_RECV', 'ESTABLISHED'),
      stateChange(sk, pid, end, 44215, 53074, 'CLOSE_WAIT', 'LAST_ACK'),
      stateChange(sk, pid, end + 0.01, 44215, 53074, 'LAST_ACK', 'CLOSE'),
    ]
    const list = byTime(
      session(0xa000n, 1022, [1.0, 1.2, 2.0], 53074, 44215),
      served(0xa800n, 1013, 1.21, 2.015),
      session(0xb000n, 2022, [1.1, 1.3, 3.0], 53074, 44215),
      served(0xb800n, 2013, 1.31, 3.015),
    )
    expect(run(new SessionTracker(threads), list).map(summary)).toEqual([
      {pid: 1022, lport: 53074, start: clock(1.0), time: clock(2.02)},
      {pid: 1013, lport: 44215, start: clock(1.21), time: clock(2.025)},
      {pid: 2022, lport: 53074, start: clock(1.1), time: clock(3.02)},
      {pid: 2013, lport: 44215, start: clock(1.31), time: clock(3.025)},
    ])
  })

  it('a socket that connects again after its close (same socket, same addresses) is a second session', () => {
    // A refused connect, then the same socket's second attempt, which succeeds.
    const refused = [stateChange(0xa000n, 7, 1.0, 0, 44215, 'CLOSE', 'SYN_SENT'), stateChange(0xa000n, 1013, 1.001, 40001, 44215, 'SYN_SENT', 'CLOSE')]
    const rows = run(new SessionTracker(threads), [...refused, ...session(0xa000n, 7, [2.0, 2.1, 3.0], 40001, 44215)])
    expect(rows.map(summary)).toEqual([
      {pid: 7, lport: 40001, start: clock(1.0), time: clock(1.001)},
      {pid: 7, lport: 40001, start: clock(2.0), time: clock(3.02)},
    ])
  })

  it('a socket address used again after a close it did not see (lost) starts a session of its own', () => {
    // The first session's close was lost (an overrun); the kernel then gave its memory to another
    // socket, a listener's child and then a connect: neither takes the first one's start or owner.
    const lost = session(0xa000n, 7, [1.0, 1.1, 2.0], 40001, 44215).filter((e) => e.fields.newstate !== STATES.CLOSE)
    const child = [
      stateChange(0xa000n, 1013, 3.0, 44215, 53074, 'LISTEN', 'SYN_RECV'),
      stateChange(0xa000n, 1013, 3.001, 44215, 53074, 'SYN_RECV', 'ESTABLISHED'),
      stateChange(0xa000n, 1013, 3.5, 44215, 53074, 'CLOSE_WAIT', 'LAST_ACK'),
      stateChange(0xa000n, 1013, 3.6, 44215, 53074, 'LAST_ACK', 'CLOSE'),
    ]
    const rows = run(new SessionTracker(threads), [...lost, ...child, ...session(0xa000n, 8, [5.0, 5.1, 6.0], 40002, 44215)])
    expect(rows.map(summary)).toEqual([
      {pid: 1013, lport: 44215, start: clock(3.0), time: clock(3.6)},
      {pid: 8, lport: 40002, start: clock(5.0), time: clock(6.02)},
    ])
  })

  it('leaves out sockets of other protocols (SCTP, MPTCP share the event)', () => {
    const sctp = V4.map((e) => ({...e, fields: {...e.fields, protocol: 132}}))
    expect(run(new SessionTracker(threads), sctp)).toEqual([])
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
