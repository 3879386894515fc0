import {parseHist} from '../../backends/ftrace/hist.js'
import {TracefsSession} from '../../backends/ftrace/tracefs-session.js'
import type {Collector, Runner} from '../../backends/runner.js'
import {NotSupportedError} from '../../src/errors.js'
import {ThreadGroups} from '../../src/system/threads.js'
import {type Traffic, TrafficTable, loadavgCaption} from './table.js'
import type {TcptopOptions} from './tool.js'

// Where the kprobe finds tcp_sendmsg's size (third argument) and tcp_cleanup_rbuf's copied
// (second), as the probe syntax names the registers, by architecture.
const ARGUMENTS: Record<string, {size: string; copied: string}> = {x64: {size: '%dx', copied: '%si'}, arm64: {size: '%x2', copied: '%x1'}}
// Threads a hist table holds in one run (it never frees an entry).
const THREADS = 8192

/**
 * tcptop without BPF: a kprobe event on tcp_sendmsg fetching its size, one on tcp_cleanup_rbuf
 * fetching the bytes copied, in a private instance; a hist trigger on each sums the bytes by
 * thread (common_pid.execname, the name saved as the thread's entry was made). The kernel's
 * sums are cumulative: diag takes differences, and puts each thread in its process through /proc.
 * A kprobe event fetches arguments, not the socket's fields at offsets only BTF would give, so
 * the rows have no addresses.
 */
export const kprobeHist: Runner<TcptopOptions> = {
  async start(ctx): Promise<Collector> {
    const registers = ARGUMENTS[process.arch]
    if (!registers) throw new NotSupportedError(`tcptop's kprobe events know the argument registers of x64 and arm64, not ${process.arch}`)
    const session = new TracefsSession(ctx.files, ctx.probe.tracefs!, ctx.pid, ctx.undo)
    const dir = await session.instance('tcptop')
    if (ctx.targetPid !== undefined) await session.followProcess(dir, ctx.targetPid)
    const send = await session.kprobe('tcptop', 'send', 'tcp_sendmsg', false, [`bytes=${registers.size}:u64`])
    const receive = await session.kprobe('tcptop', 'receive', 'tcp_cleanup_rbuf', false, [`bytes=${registers.copied}:s32`])
    const trigger = `hist:keys=common_pid.execname:vals=bytes:sort=bytes:size=${THREADS} if bytes > 0`
    await session.addTrigger(dir, send, trigger)
    await session.addTrigger(dir, receive, trigger)
    const groups = new ThreadGroups()
    const table = new TrafficTable(ctx.options)
    let dropped = 0
    const read = async (event: string) => parseHist(await session.read(`${dir}/events/${event}/hist`))
    const who = ctx.targetPid === undefined ? 'all processes' : `pid ${ctx.targetPid} and its children (set_event_pid)`
    return {
      attach: `kprobe events ${send} (tcp_sendmsg, bytes=${registers.size}) and ${receive} (tcp_cleanup_rbuf, bytes=${registers.copied}), each with ${trigger}, in ${dir} (${who})`,
      async collect() {
        const [sent, received] = [await read(send), await read(receive)]
        dropped = sent.dropped + received.dropped
        const traffic: Traffic[] = []
        for (const [hist, direction] of [[sent, 'txBytes'], [received, 'rxBytes']] as const) {
          for (const entry of hist.entries) {
            const thread = entry.keys.common_pid
            const row: Traffic = {pid: groups.groupOf(thread.number) ?? thread.number, comm: thread.text, laddr: null, raddr: null, rxBytes: 0, txBytes: 0}
            row[direction] = entry.values?.bytes ?? 0
            traffic.push(row)
          }
        }
        return table.next(traffic, await loadavgCaption((path) => ctx.files.read(path)))
      },
      lost: async () => dropped,
    }
  },
}
