import {describe, expect, it} from 'vitest'

import {parseTraceLine} from '../../backends/ftrace/trace-pipe.js'
import {parseEventFormat, symbolicValues} from '../../src/tracefs/format.js'
import type {RunContext} from '../../backends/runner.js'
import {PermissionError} from '../../src/errors.js'
import {UndoLog} from '../../src/system/undo.js'
import {dropRow, tpBtf, tracepoint} from '../../tools/tcpdrop/bpf.js'
import type {TcpdropOptions} from '../../tools/tcpdrop/tool.js'
import {MemoryFiles} from '../helpers/memory-files.js'
import {dropReasons, dropStack, ipVersion, tcpFlags, tcpState, throughTcp} from '../../tools/tcpdrop/drops.js'
import {DropPairing, dropFilter} from '../../tools/tcpdrop/ftrace.js'

// skb:kfree_skb's format on 6.18 (the reason list cut short), on a kernel whose list names the
// normal frees, and on 4.9 (no reason).
const FORMAT_618 = `name: kfree_skb
ID: 2310
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:void * location;\toffset:16;\tsize:8;\tsigned:0;
\tfield:void * rx_sk;\toffset:24;\tsize:8;\tsigned:0;
\tfield:unsigned short protocol;\toffset:32;\tsize:2;\tsigned:0;
\tfield:enum skb_drop_reason reason;\toffset:36;\tsize:4;\tsigned:0;

print fmt: "skbaddr=%p rx_sk=%p protocol=%u location=%pS reason: %s", REC->skbaddr, REC->rx_sk, REC->protocol, REC->location, __print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, { 3, "NO_SOCKET" }, { 4, "SOCKET_CLOSE" }, { 30, "TCP_FLAGS" }, { 128, "MAX" })
`
const FORMAT_WITH_CONSUMED = FORMAT_618.replace('{ 2, "NOT_SPECIFIED" }', '{ 0, "NOT_DROPPED_YET" }, { 1, "CONSUMED" }, { 2, "NOT_SPECIFIED" }')
const FORMAT_49 = `name: kfree_skb
ID: 1040
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:void * location;\toffset:16;\tsize:8;\tsigned:0;
\tfield:unsigned short protocol;\toffset:24;\tsize:2;\tsigned:0;

print fmt: "skbaddr=%p protocol=%u location=%p", REC->skbaddr, REC->protocol, REC->location
`

describe("kfree_skb's drop reasons, from the running kernel's format file", () => {
  it('reads the names the print fmt gives each value, whatever the kernel numbers them', () => {
    const format = parseEventFormat('skb/kfree_skb', FORMAT_618)
    expect(symbolicValues(format, 'reason')).toEqual(new Map([[2, 'NOT_SPECIFIED'], [3, 'NO_SOCKET'], [4, 'SOCKET_CLOSE'], [30, 'TCP_FLAGS'], [128, 'MAX']]))
    expect(symbolicValues(format, 'protocol').size).toBe(0)
    const shifted = parseEventFormat('skb/kfree_skb', FORMAT_618.replace('{ 3, "NO_SOCKET" }', '{ 0x5, "NO_SOCKET" }'))
    expect(symbolicValues(shifted, 'reason').get(5)).toBe('NO_SOCKET')
  })

  it('skips 0 always, and SKB_CONSUMED where the kernel lists it; a kernel without reasons has none', () => {
    expect(dropReasons(parseEventFormat('skb/kfree_skb', FORMAT_618))).toMatchObject({has: true, normal: [0]})
    expect(dropReasons(parseEventFormat('skb/kfree_skb', FORMAT_WITH_CONSUMED))).toMatchObject({has: true, normal: [0, 1]})
    expect(dropReasons(parseEventFormat('skb/kfree_skb', FORMAT_49))).toMatchObject({has: false, names: new Map()})
  })

  it('filters the events to IP drops, not normal frees', () => {
    expect(dropFilter(dropReasons(parseEventFormat('skb/kfree_skb', FORMAT_WITH_CONSUMED)))).toBe('(protocol == 2048 || protocol == 34525) && reason != 0 && reason != 1')
    expect(dropFilter(dropReasons(parseEventFormat('skb/kfree_skb', FORMAT_49)))).toBe('(protocol == 2048 || protocol == 34525)')
  })
})

describe('TCP as text', () => {
  it("names flags in bcc's order, states by tcp_states.h, the IP version by the L3 protocol", () => {
    expect(tcpFlags(0x02)).toBe('SYN')
    expect(tcpFlags(0x14)).toBe('RST|ACK')
    expect(tcpFlags(0x00)).toBe('')
    expect(tcpState(0)).toBeNull()
    expect(tcpState(1)).toBe('ESTABLISHED')
    expect(tcpState(12)).toBe('NEW_SYN_RECV')
    expect(tcpState(99)).toBe('99')
    expect([ipVersion(0x0800), ipVersion(0x86dd), ipVersion(0x0806)]).toEqual([4, 6, null])
  })

  it("keeps a stack from the function that freed the packet, without the tracer's frames above it", () => {
    const stack = ['_einittext+0x3c82d7cc', 'bpf_trace_run4+0xfc', 'sk_skb_reason_drop+0x90', 'tcp_v4_rcv+0x91']
    expect(dropStack(stack)).toEqual(['sk_skb_reason_drop+0x90', 'tcp_v4_rcv+0x91'])
    expect(dropStack(['__ftrace_trace_stack+0x20', 'kfree_skb+0x5', 'tcp_v6_rcv+0x3'])).toEqual(['kfree_skb+0x5', 'tcp_v6_rcv+0x3'])
    expect(dropStack(['kfree_skb', 'udp_rcv'])).toEqual(['kfree_skb', 'udp_rcv'])
    expect(throughTcp(['kfree_skb', '__tcp_transmit_skb'])).toBe(true)
    expect(throughTcp(['kfree_skb+0x1', 'udp_queue_rcv_skb+0x2'])).toBe(false)
  })
})

describe("tcpdrop's BPF record (tcpdrop.h struct drop_event)", () => {
  const reasons = dropReasons(parseEventFormat('skb/kfree_skb', FORMAT_618))
  function record(fill: (r: Buffer) => void): Buffer {
    const r = Buffer.alloc(68)
    r.writeBigUInt64LE(100_500_000_000n, 0)
    r.writeUInt32LE(4242, 8)
    r.writeInt32LE(7, 16)
    r.writeUInt32LE(3, 20)
    fill(r)
    return r
  }

  it('reads an IPv4 drop with its headers at their offsets', () => {
    const r = record((r) => {
      r.writeUInt16LE(0x0800, 24)
      r.writeUInt16LE(49978, 26)
      r.writeUInt16LE(42475, 28)
      r.writeUInt8(0, 30)
      r.writeUInt8(0x02, 31)
      r.writeUInt32LE(1, 32)
      Buffer.from([127, 0, 0, 1]).copy(r, 36)
      Buffer.from([127, 0, 0, 2]).copy(r, 52)
    })
    expect(dropRow(r, reasons, (t) => `t${t}`)).toEqual({
      time: 't100.5',
      pid: 4242,
      ip: 4,
      saddr: '127.0.0.1',
      sport: 49978,
      daddr: '127.0.0.2',
      dport: 42475,
      state: null,
      flags: 'SYN',
      reason: 'NO_SOCKET',
    })
  })

  it('reads an IPv6 drop, its state and a reason the format does not name', () => {
    const r = record((r) => {
      r.writeUInt16LE(0x86dd, 24)
      r.writeUInt32LE(77, 20)
      r.writeUInt8(1, 30)
      r.writeUInt8(0x10, 31)
      r.writeUInt32LE(1, 32)
      r.writeUInt8(1, 36 + 15)
      r.writeUInt8(1, 52 + 15)
    })
    expect(dropRow(r, reasons, () => '')).toMatchObject({ip: 6, saddr: '::1', daddr: '::1', state: 'ESTABLISHED', flags: 'ACK', reason: '77'})
  })

  it('leaves what the classic tracepoint cannot know null: the headers, and the reason before 5.17', () => {
    const r = record((r) => {
      r.writeUInt16LE(0x0800, 24)
      r.writeUInt32LE(0xffffffff, 20)
    })
    const none = dropReasons(parseEventFormat('skb/kfree_skb', FORMAT_49))
    expect(dropRow(r, none, () => '')).toMatchObject({ip: 4, saddr: null, sport: null, daddr: null, dport: null, state: null, flags: null, reason: null})
  })
})

describe('kfree_skb events with their stacks from trace_pipe', () => {
  const text = `     diag-tcp-4593    (   4593) [001] ..s2.  2355.141045: kfree_skb: skbaddr=000000003e2ab0f9 rx_sk=0000000000000000 protocol=2048 location=tcp_v4_rcv+0x91/0x1020 reason: NO_SOCKET
          <idle>-0       (-------) [000] ..s2.  2355.141046: kfree_skb: skbaddr=00000000aa protocol=34525 location=udpv6_queue_rcv_skb+0x1/0x2 reason: SOCKET_RCVBUFF
     diag-tcp-4593    (   4593) [001] ..s2.  2355.141047: <stack trace>
 => sk_skb_reason_drop+0x90/0x120
 => tcp_v4_rcv+0x91/0x1020
 => ip_protocol_deliver_rcu+0x28/0x1b0
          <idle>-0       (-------) [000] ..s2.  2355.141048: <stack trace>
 => sk_skb_reason_drop+0x90/0x120
 => udpv6_queue_rcv_one_skb+0x1/0x2
`

  function pair(has: boolean): ReturnType<DropPairing['flush']> {
    const pairing = new DropPairing({has}, (t) => `t${t}`)
    for (const line of text.split('\n')) {
      const parsed = parseTraceLine(line)
      if (parsed) pairing.line(parsed)
      else pairing.other(line)
    }
    return pairing.flush()
  }

  it("pairs each event with its task's stack, and keeps the drops whose stack passes through TCP", () => {
    expect(pair(true)).toEqual([
      {
        time: 't2355.141045',
        pid: 4593,
        ip: 4,
        saddr: null,
        sport: null,
        daddr: null,
        dport: null,
        state: null,
        flags: null,
        reason: 'NO_SOCKET',
        stack: ['sk_skb_reason_drop+0x90', 'tcp_v4_rcv+0x91', 'ip_protocol_deliver_rcu+0x28'],
      },
    ])
  })

  it('leaves the reason null where the event has none (4.9)', () => {
    expect(pair(false)[0]).toMatchObject({reason: null, ip: 4})
  })

  it('emits a drop once, and none whose stack has not come', () => {
    const pairing = new DropPairing({has: true})
    pairing.line(parseTraceLine(text.split('\n')[0])!)
    expect(pairing.flush()).toEqual([])
  })
})

describe('the BPF backends where kallsyms hides kernel addresses (kptr_restrict)', () => {
  it.each([
    ['bpf-tp-btf', tpBtf],
    ['bpf-tracepoint', tracepoint],
  ])('%s refuses with a permission error naming the sysctl, before anything is loaded', async (_, runner) => {
    const files = new MemoryFiles()
    files.files.set('/sys/kernel/tracing/events/skb/kfree_skb/format', FORMAT_618)
    files.files.set('/proc/kallsyms', '0000000000000000 T _text\n0000000000000000 T tcp_v4_rcv\n')
    files.files.set('/proc/sys/kernel/kptr_restrict', '2\n')
    const undo = new UndoLog()
    const ctx = {options: {}, probe: {tracefs: '/sys/kernel/tracing', capabilities: []}, files, undo, pid: 1, signal: new AbortController().signal}
    const started = runner.start(ctx as unknown as RunContext<TcpdropOptions>)
    await expect(started).rejects.toBeInstanceOf(PermissionError)
    await expect(started).rejects.toThrow(/kernel\.kptr_restrict = 2/)
    expect(undo.size).toBe(0)
  })
})
