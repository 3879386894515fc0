import {readdirSync} from 'node:fs'

import {type Collector, type Runner, RowQueue, type RowStream} from '../../backends/runner.js'
import {startEventStream} from '../../backends/ftrace/stream.js'
import {type TraceLine, commOf} from '../../backends/ftrace/trace-pipe.js'
import type {Row} from '../../src/result/model.js'
import {type ClosedSession, sessionRow, wantedPorts} from './session.js'
import {COLUMNS, NAME, type TcplifeOptions} from './tool.js'

const STATE_EVENT = 'sock/inet_sock_set_state'
const FORK_EVENT = 'sched/sched_process_fork'
const BACKEND = 'ftrace-stream'

// The changes a system call of the owning process makes (tcplife.h: session_changed).
const OWNER_STATES = new Set(['TCP_SYN_SENT', 'TCP_FIN_WAIT1', 'TCP_LAST_ACK'])
const OPEN_STATES = new Set(['TCP_SYN_SENT', 'TCP_SYN_RECV', 'TCP_ESTABLISHED'])

/** An address as the kernel prints it (%pI4, %pI6c) as its bytes, network order. */
export function addressBytes(text: string): Uint8Array {
  if (!text.includes(':')) return Uint8Array.from(text.split('.').map(Number))
  let groups = text
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (v4) {
    const [a, b, c, d] = v4[1].split('.').map(Number)
    groups = `${text.slice(0, -v4[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = groups.split('::')
  const part = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : [])
  const front = part(head)
  const back = part(tail)
  const words = tail === undefined ? front : [...front, ...new Array(8 - front.length - back.length).fill(0), ...back]
  const bytes = new Uint8Array(16)
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8
    bytes[2 * i + 1] = w & 0xff
  })
  return bytes
}

/** The fields of an event line's body: `family=AF_INET protocol=IPPROTO_TCP sport=0 ...`. */
function fieldsOf(body: string): Map<string, string> {
  return new Map([...body.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]))
}

interface Owner {
  pid: number
  comm: string
}

interface Session {
  birth: number | null
  owner: Owner | null
  /** The listener's children with these addresses: two when two CPUs completed its handshake at once. */
  children: number
}

/**
 * Follows TCP sessions through inet_sock_set_state lines into a row per session as it closes,
 * as tcplife.h does in BPF. The event prints no socket address, so a session is known by its
 * addresses and ports; a connecting socket has no local port yet at SYN_SENT (the kernel picks
 * it just after), so its SYN_SENT waits, by remote address and port, for the socket's next
 * change, which has the port: two connects to the same remote address and port at once from
 * different processes could swap owners. With `traced` (the traced process's threads, followed
 * through its forks), only sessions a traced process owned make rows.
 */
export class SessionTracker {
  private readonly sessions = new Map<string, Session>()
  private readonly connecting = new Map<string, Session[]>()

  constructor(private readonly traced?: Set<number>) {}

  /** The session a state-change line closes, if it closes one. */
  line(line: TraceLine): ClosedSession | undefined {
    if (line.event === 'sched_process_fork') {
      const f = fieldsOf(line.body)
      if (this.traced?.has(Number(f.get('pid')))) this.traced.add(Number(f.get('child_pid')))
      return undefined
    }
    if (line.event !== 'inet_sock_set_state') return undefined
    const f = fieldsOf(line.body)
    if (f.has('protocol') && f.get('protocol') !== 'IPPROTO_TCP') return undefined
    const oldstate = f.get('oldstate')!
    const newstate = f.get('newstate')!
    // A listening socket opening and closing is no session.
    if (newstate === 'TCP_LISTEN' || (oldstate === 'TCP_LISTEN' && newstate === 'TCP_CLOSE')) return undefined
    const v6 = f.get('family') === 'AF_INET6'
    const laddr = f.get(v6 ? 'saddrv6' : 'saddr')!
    const raddr = f.get(v6 ? 'daddrv6' : 'daddr')!
    const lport = Number(f.get('sport'))
    const rport = Number(f.get('dport'))
    const remote = `${f.get('family')} ${raddr} ${rport}`
    const key = `${remote} ${laddr} ${lport}`

    // A child that closes from SYN_RECV never became the connection: no row (tcplife.h). When it is
    // the duplicate of a handshake two CPUs completed at once, the connection has its addresses:
    // the session stays, unless this was its only child.
    if (oldstate === 'TCP_SYN_RECV' && newstate === 'TCP_CLOSE') {
      const child = this.sessions.get(key)
      if (child && --child.children <= 0) this.sessions.delete(key)
      return undefined
    }
    let session = this.sessions.get(key)
    if (!session && oldstate === 'TCP_SYN_SENT') {
      session = this.connecting.get(remote)?.shift()
      if (session) this.sessions.set(key, session)
    }
    if (!session) {
      session = {birth: OPEN_STATES.has(newstate) ? line.timestamp : null, owner: null, children: 0}
      if (newstate === 'TCP_SYN_SENT' && lport === 0) this.connecting.set(remote, [...(this.connecting.get(remote) ?? []), session])
      else this.sessions.set(key, session)
    }
    if (oldstate === 'TCP_LISTEN') session.children++
    if (OWNER_STATES.has(newstate) && !session.owner && (!this.traced || this.traced.has(line.pid)))
      session.owner = {pid: line.tgid ?? line.pid, comm: commOf(line)}
    if (newstate !== 'TCP_CLOSE') return undefined
    this.sessions.delete(key)
    if (this.traced && !session.owner) return undefined
    return {
      pid: session.owner?.pid ?? null,
      comm: session.owner?.comm ?? null,
      laddr: addressBytes(laddr),
      raddr: addressBytes(raddr),
      lport,
      rport,
      txBytes: null,
      rxBytes: null,
      spanMs: session.birth === null ? null : (line.timestamp - session.birth) * 1000,
      closedAt: line.timestamp,
    }
  }
}

/** The threads of a running process, where /proc still has it. */
function threadsOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number)
  } catch {
    return [pid]
  }
}

/**
 * sock:inet_sock_set_state events from a private instance, unfiltered: a session's last changes
 * come from packets, recorded under whatever task the kernel interrupted (the peer, on
 * loopback), so the kernel's pid filter would drop them. The traced process is followed in diag
 * instead, through sched_process_fork. The event carries no byte counts: they are null. The
 * instance's clock is "mono" (crossCpuClock), CLOCK_MONOTONIC as BPF's ktime, so the times of
 * the close and the beginning become wall-clock times the same way (tcpdrop's stream too).
 */
export const stream: Runner<TcplifeOptions> = {
  async start(ctx): Promise<Collector & RowStream> {
    const traced = ctx.targetPid === undefined ? undefined : new Set(threadsOf(ctx.targetPid))
    const tracker = new SessionTracker(traced)
    const queue = new RowQueue()
    const events = traced ? [STATE_EVENT, FORK_EVENT] : [STATE_EVENT]
    const stream = await startEventStream(
      ctx,
      NAME,
      events,
      (line) => {
        const session = tracker.line(line)
        if (session && wantedPorts(ctx.options, session)) queue.push(sessionRow(session, BACKEND))
      },
      {filterPid: false, excludeSelf: false, recordTgid: true, crossCpuClock: true},
    )
    return {
      attach: stream.attach,
      onRows: (emit: (rows: Row[]) => void) => queue.onRows(emit),
      async collect() {
        await stream.pipe.catchUp()
        return {kind: 'rows', columns: COLUMNS, rows: []}
      },
      stop: () => stream.pipe.stop(),
      lost: () => stream.pipe.lost(),
    }
  },
}
