import {readdirSync} from 'node:fs'

import {type Collector, type Runner, RowQueue, type RowStream} from '../../backends/runner.js'
import type {RawEvent} from '../../backends/ftrace/ring-buffer.js'
import {startRawEventStream} from '../../backends/ftrace/stream.js'
import {AF_INET6} from '../../src/net/address.js'
import type {Row} from '../../src/result/model.js'
import {type ThreadInfo, TracedThreads} from '../../src/system/threads.js'
import {type ClosedSession, sessionRow, wantedPorts} from './session.js'
import {COLUMNS, NAME, type TcplifeOptions} from './tool.js'

const STATE_EVENT = 'sock/inet_sock_set_state'
const FORK_EVENT = 'sched/sched_process_fork'
const BACKEND = 'ftrace-stream'

// TCP states as include/net/tcp_states.h numbers them (the event's oldstate and newstate).
const TCP_ESTABLISHED = 1
const TCP_SYN_SENT = 2
const TCP_SYN_RECV = 3
const TCP_FIN_WAIT1 = 4
const TCP_CLOSE = 7
const TCP_LAST_ACK = 9
const TCP_LISTEN = 10
const IPPROTO_TCP = 6

// The changes a system call of the owning process makes (tcplife.h: session_changed).
const OWNER_STATES = new Set([TCP_SYN_SENT, TCP_FIN_WAIT1, TCP_LAST_ACK])
const OPEN_STATES = new Set([TCP_SYN_SENT, TCP_SYN_RECV, TCP_ESTABLISHED])

/** The fields of each event the tracker reads. */
export const STATE_FIELDS = ['skaddr', 'oldstate', 'newstate', 'sport', 'dport', 'family', 'protocol', 'saddr', 'daddr', 'saddr_v6', 'daddr_v6']
export const FORK_FIELDS = ['parent_pid', 'child_pid']

interface Owner {
  pid: number
  comm: string
}

interface Session {
  birth: number | null
  owner: Owner | null
}

/**
 * Follows TCP sessions through inet_sock_set_state events into a row per session as it closes,
 * as tcplife.h does in BPF: by socket (the event's skaddr), from its first change to an open
 * state to its close, the addresses and ports read from the close. With `traced` (the traced
 * process's threads, followed through its forks), only sessions a traced process owned make rows.
 */
export class SessionTracker {
  private readonly sessions = new Map<string, Session>()

  constructor(
    private readonly threads: ThreadInfo,
    private readonly traced?: Set<number>,
  ) {}

  /** The session an event closes, if it closes one. */
  event(event: RawEvent): ClosedSession | undefined {
    const f = event.fields
    if (event.event === 'sched_process_fork') {
      if (this.traced?.has(f.parent_pid as number)) this.traced.add(f.child_pid as number)
      return undefined
    }
    if (event.event !== 'inet_sock_set_state' || f.protocol !== IPPROTO_TCP) return undefined
    const oldstate = f.oldstate as number
    const newstate = f.newstate as number
    // A listening socket opening and closing is no session.
    if (newstate === TCP_LISTEN || (oldstate === TCP_LISTEN && newstate === TCP_CLOSE)) return undefined
    const socket = f.skaddr as string
    let session = this.sessions.get(socket)
    // A socket's life begins at a connect (from CLOSE) or as a listener's child (LISTEN to
    // SYN_RECV): what is kept under its address is an earlier socket's, whose close was lost.
    if (oldstate === TCP_CLOSE || (oldstate === TCP_LISTEN && newstate === TCP_SYN_RECV)) session = undefined
    if (!session) {
      session = {birth: null, owner: null}
      this.sessions.set(socket, session)
    }
    if (session.birth === null && OPEN_STATES.has(newstate)) session.birth = event.timestamp
    if (OWNER_STATES.has(newstate) && !session.owner && (!this.traced || this.traced.has(event.pid)))
      session.owner = {pid: this.threads.groupOf(event.pid) ?? event.pid, comm: this.threads.nameOf(event.pid)}
    if (newstate !== TCP_CLOSE) return undefined
    this.sessions.delete(socket)
    // A child that closes from SYN_RECV never became the connection (tcplife.h): no row.
    if (oldstate === TCP_SYN_RECV) return undefined
    if (this.traced && !session.owner) return undefined
    const v6 = f.family === AF_INET6
    return {
      pid: session.owner?.pid ?? null,
      comm: session.owner?.comm ?? null,
      laddr: f[v6 ? 'saddr_v6' : 'saddr'] as Uint8Array,
      raddr: f[v6 ? 'daddr_v6' : 'daddr'] as Uint8Array,
      lport: f.sport as number,
      rport: f.dport as number,
      txBytes: null,
      rxBytes: null,
      spanMs: session.birth === null ? null : (event.timestamp - session.birth) * 1000,
      closedAt: event.timestamp,
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
 * sock:inet_sock_set_state events from a private instance, unfiltered, read in binary from its
 * per-CPU trace_pipe_raw in time order: a session's last changes come from packets, recorded
 * under whatever task the kernel interrupted (the peer, on loopback), so the kernel's pid filter
 * would drop them. The traced process is followed in diag instead, through sched_process_fork.
 * An owner is named from /proc, else the kernel's comm cache, and placed in its process from
 * /proc, else record-tgid's saved_tgids. The event carries no byte counts: they are null. The
 * instance's clock is "mono" (crossCpuClock), CLOCK_MONOTONIC as BPF's ktime, so the times of
 * the close and the beginning become wall-clock times the same way (tcpdrop's stream too).
 */
export const stream: Runner<TcplifeOptions> = {
  async start(ctx): Promise<Collector & RowStream> {
    const traced = ctx.targetPid === undefined ? undefined : new Set(threadsOf(ctx.targetPid))
    const threads = new TracedThreads(ctx.probe.tracefs!)
    const tracker = new SessionTracker(threads, traced)
    const queue = new RowQueue()
    const events = [{event: STATE_EVENT, fields: STATE_FIELDS}, ...(traced ? [{event: FORK_EVENT, fields: FORK_FIELDS}] : [])]
    const stream = await startRawEventStream(
      ctx,
      NAME,
      events,
      (event) => {
        const session = tracker.event(event)
        if (session && wantedPorts(ctx.options, session)) queue.push(sessionRow(session, BACKEND))
      },
      {filterPid: false, excludeSelf: false, recordTgid: true, crossCpuClock: true},
    )
    return {
      attach: stream.attach,
      onRows: (emit: (rows: Row[]) => void) => queue.onRows(emit),
      async collect() {
        await stream.pipe.catchUp()
        threads.forget()
        return {kind: 'rows', columns: COLUMNS, rows: []}
      },
      stop: () => stream.pipe.stop(),
      lost: () => stream.pipe.lost(),
    }
  },
}
