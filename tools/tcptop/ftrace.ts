import {parseHist} from '../../backends/ftrace/hist.js'
import {TracefsSession} from '../../backends/ftrace/tracefs-session.js'
import type {Collector, RunContext, Runner} from '../../backends/runner.js'
import {NotSupportedError} from '../../src/errors.js'
import {ThreadGroups} from '../../src/system/threads.js'
import {type Traffic, TrafficTable, loadavgCaption} from './table.js'
import type {TcptopOptions} from './tool.js'

// Where the kprobe finds tcp_sendmsg's size (third argument), as the probe syntax names the
// register, by architecture.
const SIZE_ARGUMENT: Record<string, string> = {x64: '%dx', arm64: '%x2'}
// Threads a hist table holds in one run (it never frees an entry).
const THREADS = 8192

/** An event whose hist trigger sums one of its fields (bytes) by thread, when the filter holds. */
interface Summed {
  event: string
  field: string
  filter: string
  direction: 'rxBytes' | 'txBytes'
}

/**
 * Sums bytes by thread with a hist trigger on each event (common_pid.execname: the name saved
 * as the thread's entry was made), in a private instance that follows the traced process. The
 * kernel's sums are cumulative: diag takes differences, and puts each thread in its process
 * through /proc while it lives. Neither source gives the connection: the rows have no addresses.
 */
async function histTables(ctx: RunContext<TcptopOptions>, session: TracefsSession, dir: string, sums: Summed[], what: string): Promise<Collector> {
  const triggers = sums.map((s) => `hist:keys=common_pid.execname:vals=${s.field}:sort=${s.field}:size=${THREADS} if ${s.filter}`)
  for (const [i, s] of sums.entries()) await session.addTrigger(dir, s.event, triggers[i])
  const groups = new ThreadGroups()
  const table = new TrafficTable(ctx.options)
  let dropped = 0
  const who = ctx.targetPid === undefined ? 'all processes' : `pid ${ctx.targetPid} and its children (set_event_pid)`
  return {
    attach: `${what}, summed by ${triggers.map((t, i) => `${t} on ${sums[i].event}`).join(' and ')}, in ${dir} (${who})`,
    async collect() {
      const traffic: Traffic[] = []
      dropped = 0
      for (const s of sums) {
        const hist = parseHist(await session.read(`${dir}/events/${s.event}/hist`))
        dropped += hist.dropped
        for (const entry of hist.entries) {
          const thread = entry.keys.common_pid
          const row: Traffic = {pid: groups.groupOf(thread.number) ?? thread.number, comm: thread.text, laddr: null, raddr: null, rxBytes: 0, txBytes: 0}
          row[s.direction] = entry.values?.[s.field] ?? 0
          traffic.push(row)
        }
      }
      return table.next(traffic, await loadavgCaption((path) => ctx.files.read(path)))
    },
    lost: async () => dropped,
  }
}

async function instance(ctx: RunContext<TcptopOptions>): Promise<{session: TracefsSession; dir: string}> {
  const session = new TracefsSession(ctx.files, ctx.probe.tracefs!, ctx.pid, ctx.undo)
  const dir = await session.instance('tcptop')
  if (ctx.targetPid !== undefined) await session.followProcess(dir, ctx.targetPid)
  return {session, dir}
}

/**
 * tcptop without BPF on older kernels: a kprobe event on tcp_sendmsg fetching its size, a
 * kretprobe event on tcp_recvmsg fetching the bytes it read ($retval; tcp_cleanup_rbuf's copied
 * counts some bytes twice before 5.17), each summed by a hist trigger. A kprobe event fetches
 * arguments, not the socket's fields at offsets only BTF would give: no addresses. A read that
 * returned while its kretprobe had no free instance (misses in kprobe_profile) is counted lost.
 */
export const kprobeHist: Runner<TcptopOptions> = {
  async start(ctx): Promise<Collector> {
    const size = SIZE_ARGUMENT[process.arch]
    if (!size) throw new NotSupportedError(`tcptop's kprobe events know the argument registers of x64 and arm64, not ${process.arch}`)
    const {session, dir} = await instance(ctx)
    const send = await session.kprobe('tcptop', 'send', 'tcp_sendmsg', false, [`bytes=${size}:u64`])
    const receive = await session.kprobe('tcptop', 'receive', 'tcp_recvmsg', true, ['bytes=$retval:s32'])
    const sums: Summed[] = [
      {event: send, field: 'bytes', filter: 'bytes > 0', direction: 'txBytes'},
      {event: receive, field: 'bytes', filter: 'bytes > 0', direction: 'rxBytes'},
    ]
    const collector = await histTables(ctx, session, dir, sums, `kprobe event ${send} (tcp_sendmsg, bytes=${size}) and kretprobe event ${receive} (tcp_recvmsg, bytes=$retval)`)
    return {...collector, lost: async () => ((await collector.lost()) ?? 0) + (await kretprobeMisses(session, receive))}
  },
}

/** A kprobe event's misses, from kprobe_profile ("event hits misses"; "group/event" since 4.x). */
export async function kretprobeMisses(session: Pick<TracefsSession, 'read'>, event: string): Promise<number> {
  const text = await session.read('kprobe_profile').catch(() => '')
  const name = event.split('/')[1]
  for (const line of text.split('\n')) {
    const [which, , misses] = line.trim().split(/\s+/)
    if (which === event || which === name) return Number(misses) || 0
  }
  return 0
}

// TCP over IPv4 or IPv6, bytes moved (ret > 0); a peek (MSG_PEEK, 2) leaves them for the next read.
const TCP_BYTES = 'protocol == 6 && (family == 2 || family == 10) && ret > 0'

/**
 * tcptop without BPF on 6.3+: the sock:sock_send_length and sock_recv_length tracepoints, their
 * `ret` summed by a hist trigger each. The events carry the socket's pointer, not its addresses.
 */
export const sockHist: Runner<TcptopOptions> = {
  async start(ctx): Promise<Collector> {
    const {dir, session} = await instance(ctx)
    const sums: Summed[] = [
      {event: 'sock/sock_send_length', field: 'ret', filter: TCP_BYTES, direction: 'txBytes'},
      {event: 'sock/sock_recv_length', field: 'ret', filter: `${TCP_BYTES} && !(flags & 2)`, direction: 'rxBytes'},
    ]
    return histTables(ctx, session, dir, sums, 'sock:sock_send_length and sock:sock_recv_length')
  },
}
