import {formatIp} from '../../src/net/address.js'
import type {Row} from '../../src/result/model.js'
import {wallTime} from '../../src/system/clock.js'
import type {TcplifeOptions} from './tool.js'

/** What a backend knows of a closed session; null where it could not know. */
export interface ClosedSession {
  pid: number | null
  comm: string | null
  /** Network order: 4 bytes for IPv4, 16 for IPv6. */
  laddr: Uint8Array
  raddr: Uint8Array
  lport: number
  rport: number
  txBytes: number | null
  rxBytes: number | null
  /** From the session's first state change to its close. */
  spanMs: number | null
  /** When it closed, on the monotonic clock (bpf_ktime_get_ns(), a "mono" trace clock), in seconds. */
  closedAt: number
}

/**
 * A session as its row, the same whatever backend saw it: when it closed (and began, where its
 * beginning was seen) as wall-clock times, the addresses printed one way (src/net/address.ts),
 * KiB exact (text rounds them), and the candidate that saw it.
 */
export function sessionRow(session: ClosedSession, backend: string, toTime: (monotonicSeconds: number) => string = wallTime): Row {
  return {
    time: toTime(session.closedAt),
    start: session.spanMs === null ? null : toTime(session.closedAt - session.spanMs / 1000),
    pid: session.pid,
    comm: session.comm,
    laddr: formatIp(session.laddr),
    lport: session.lport,
    raddr: formatIp(session.raddr),
    rport: session.rport,
    txKb: session.txBytes === null ? null : session.txBytes / 1024,
    rxKb: session.rxBytes === null ? null : session.rxBytes / 1024,
    ms: session.spanMs === null ? null : Math.round(session.spanMs * 1000) / 1000,
    backend,
  }
}

/** Whether a session passes --local-port and --remote-port. */
export function wantedPorts(options: Pick<TcplifeOptions, 'localPorts' | 'remotePorts'>, session: Pick<ClosedSession, 'lport' | 'rport'>): boolean {
  if (options.localPorts && !options.localPorts.includes(session.lport)) return false
  if (options.remotePorts && !options.remotePorts.includes(session.rport)) return false
  return true
}
