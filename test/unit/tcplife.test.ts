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
 * An inet_sock_set_state record, encoded as the 6.18 format lays it out and decoded by the raw
 * reader: IPv4 (the IPv6 fields holding the mapped addresses, as the kernel fills them), or IPv6 (`v4` null).
 */
function stateChange(pid: number, timestamp: number, sport: number, dport: number, old: State, now: State, v4: {saddr: number[]; daddr: number[]} | null = {saddr: LOOPBACK, daddr: LOOPBACK}) {
  const v6 = !v4
  return events.event('sock/inet_sock_set_state', pid, timestamp, {
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
// context (the server's FIN, processed as the server sends it).
const V4 = [
  stateChange(1013, 23169.318265, 44215, 0, 'CLOSE', 'LISTEN', {saddr: LOOPBACK, daddr: ANY}),
  stateChange(1022, 23169.620288, 0, 44215, 'CLOSE', 'SYN_SENT'),
  stateChange(1022, 23169.620386, 53074, 44215, 'SYN_SENT', 'ESTABLISHED'),
  stateChange(1022, 23169.620396, 44215, 53074, 'LISTEN', 'SYN_RECV'),
  stateChange(1022, 23169.620402, 44215, 53074, 'SYN_RECV', 'ESTABLISHED'),
  stateChange(1022, 23169.620527, 53074, 44215, 'ESTABLISHED', 'FIN_WAIT1'),
  stateChange(1022, 23169.62053, 44215, 53074, 'ESTABLISHED', 'CLOSE_WAIT'),
  stateChange(1013, 23169.620543, 53074, 44215, 'FIN_WAIT1', 'FIN_WAIT2'),
  stateChange(1013, 23169.62055, 44215, 53074, 'CLOSE_WAIT', 'LAST_ACK'),
  stateChange(1013, 23169.620557, 53074, 44215, 'FIN_WAIT2', 'CLOSE'),
  stateChange(1013, 23169.620561, 44215, 53074, 'LAST_ACK', 'CLOSE'),
  stateChange(1013, 23169.621784, 44215, 0, 'LISTEN', 'CLOSE', {saddr: LOOPBACK, daddr: ANY}),
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
  it('decodes the addresses as bytes: IPv4 from saddr and daddr, IPv6 from saddr_v6 and daddr_v6', () => {
    expect(V4[2].fields).toMatchObject({family: 2, protocol: 6, sport: 53074, dport: 44215, oldstate: 2, newstate: 1, saddr: Uint8Array.from(LOOPBACK)})
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
    const at = (e: RawEvent, cpu: number, timestamp: number, fields: Record<string, number> = {}): RawEvent => ({...e, cpu, timestamp, fields: {...e.fields, ...fields}})
    const dropped = {oldstate: STATES.SYN_RECV, newstate: STATES.CLOSE}
    const clone = at(V4[3], 0, 23169.620397)
    const duplicateClosed = at(V4[3], 0, 23169.620404, dropped)
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
    const v6 = (pid: number, ts: number, sport: number, old: State, now: State) => stateChange(pid, ts, sport, 45409, old, now, null)
    const list = [
      v6(7, 10.0, 0, 'CLOSE', 'SYN_SENT'),
      v6(7, 10.0001, 45042, 'SYN_SENT', 'ESTABLISHED'),
      v6(7, 10.0002, 45042, 'ESTABLISHED', 'FIN_WAIT1'),
      v6(8, 10.00384, 45042, 'FIN_WAIT2', 'CLOSE'),
      v6(8, 11.0, 45050, 'FIN_WAIT2', 'CLOSE'),
    ]
    expect(run(new SessionTracker(threads), list)).toEqual([
      {time: '1970-01-01T00:00:10.004Z', start: '1970-01-01T00:00:10.000Z', pid: 7, comm: 'diag-tcp', laddr: '::1', lport: 45042, raddr: '::1', rport: 45409, txKb: null, rxKb: null, ms: 3.84, backend: 'ftrace-stream'},
      {time: '1970-01-01T00:00:11.000Z', start: null, pid: null, comm: null, laddr: '::1', lport: 45050, raddr: '::1', rport: 45409, txKb: null, rxKb: null, ms: null, backend: 'ftrace-stream'},
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
