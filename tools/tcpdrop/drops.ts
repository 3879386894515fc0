/**
 * What every tcpdrop backend shares: the drop reasons as the running kernel names them, TCP
 * states and flags as text, and what makes a drop TCP's when the packet could not be read.
 */
import {type EventFormat, symbolicValues} from '../../src/tracefs/format.js'
import {TRACER_FRAME} from '../../src/symbols/stacks.js'

/** How the kernel names the reasons of skb:kfree_skb, read from its format file at run time. */
export interface DropReasons {
  /** Whether the event has a reason (5.17+). */
  has: boolean
  /** Value -> name ("NO_SOCKET"), as the print fmt lists them; a value it does not list prints as its number. */
  names: Map<number, string>
  /** The values that are normal frees, not drops: 0 (SKB_NOT_DROPPED_YET) and SKB_CONSUMED where listed. */
  normal: number[]
}

const NORMAL_FREES = new Set(['NOT_DROPPED_YET', 'CONSUMED'])

export function dropReasons(format: EventFormat): DropReasons {
  const has = format.fields.has('reason')
  const names = symbolicValues(format, 'reason')
  const normal = [0, ...[...names].filter(([, name]) => NORMAL_FREES.has(name)).map(([value]) => value)]
  return {has, names, normal: [...new Set(normal)]}
}

export function reasonName(reasons: DropReasons, value: number): string {
  return reasons.names.get(value) ?? String(value)
}

// include/net/tcp_states.h: part of the ABI (/proc/net/tcp prints these numbers), stable since 4.1's NEW_SYN_RECV.
const TCP_STATES = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV', 'BOUND_INACTIVE']

/** A socket's TCP state by name; null without a socket (0), its number when unknown to diag. */
export function tcpState(state: number): string | null {
  if (state === 0) return null
  return TCP_STATES[state] || String(state)
}

// The TCP header's flags byte, lowest bit first.
const TCP_FLAGS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR']

/** The flags set in a TCP header's flags byte: "SYN", "RST|ACK" (bcc's order and separator). */
export function tcpFlags(byte: number): string {
  return TCP_FLAGS.filter((_, bit) => byte & (1 << bit)).join('|')
}

/** The IP version of an L3 protocol (ETH_P_IP, ETH_P_IPV6, as the tracepoint gives it), else null. */
export function ipVersion(protocol: number): 4 | 6 | null {
  return protocol === 0x0800 ? 4 : protocol === 0x86dd ? 6 : null
}

// A TCP function: tcp_v4_rcv, tcp_rcv_state_process, __tcp_transmit_skb, tcp_v6_do_rcv...
const TCP_FRAME = /^_*tcp/

/**
 * Whether a drop whose packet could not be read is TCP's: its stack passes through TCP. A packet
 * dropped before TCP saw it (a checksum, a firewall) is not told apart from UDP's then, and is left out.
 */
export function throughTcp(frames: string[]): boolean {
  return frames.some((frame) => TCP_FRAME.test(frame))
}

/**
 * A drop's kernel stack as rows show it: innermost first, from the function that freed the packet
 * on, without the tracer's frames above it (the BPF program, which kallsyms may not name, and the
 * code that ran it; ftrace's stack recording).
 */
export function dropStack(framesInnermostFirst: string[]): string[] {
  let last = -1
  framesInnermostFirst.forEach((frame, i) => {
    if (TRACER_FRAME.test(frame)) last = i
  })
  return last < framesInnermostFirst.length - 1 ? framesInnermostFirst.slice(last + 1) : framesInnermostFirst
}
