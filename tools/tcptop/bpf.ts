import {BpfTool} from '../../backends/bpf/bpf-tool.js'
import type {Collector, RunContext, Runner} from '../../backends/runner.js'
import {NotSupportedError} from '../../src/errors.js'
import {AF_INET, AF_INET6} from '../../src/net/address.js'
import {fieldOffset, readEventFormat} from '../../src/tracefs/format.js'
import {type Traffic, TrafficTable, endpoint, loadavgCaption} from './table.js'
import type {TcptopOptions} from './tool.js'

// struct tcp_key and struct tcp_bytes (tcptop.h).
const KEY = {pid: 0, family: 4, lport: 6, dport: 8, saddr: 12, daddr: 28, comm: 44, commLength: 16}
const VALUE = {rx: 0, tx: 8}

/** One entry of the `bytes` map as what it counted; addresses null where the object did not read them (family 0). */
export function trafficOf(key: Buffer, value: Buffer): Traffic {
  const family = key.readUInt16LE(KEY.family)
  const size = family === AF_INET ? 4 : family === AF_INET6 ? 16 : 0
  const address = (at: number) => new Uint8Array(key.subarray(at, at + size))
  const comm = key.subarray(KEY.comm, KEY.comm + KEY.commLength)
  const end = comm.indexOf(0)
  return {
    pid: key.readUInt32LE(KEY.pid),
    comm: comm.toString('utf8', 0, end < 0 ? comm.length : end),
    laddr: size ? endpoint(address(KEY.saddr), key.readUInt16BE(KEY.lport)) : null,
    raddr: size ? endpoint(address(KEY.daddr), key.readUInt16BE(KEY.dport)) : null,
    rxBytes: Number(value.readBigUInt64LE(VALUE.rx)),
    txBytes: Number(value.readBigUInt64LE(VALUE.tx)),
  }
}

/** The map read each interval: what changed since the last read, as a table under the load average. */
function trafficCollector(bpf: BpfTool, ctx: RunContext<TcptopOptions>): Collector {
  const table = new TrafficTable(ctx.options)
  return {
    attach: bpf.attachments,
    async collect() {
      const traffic = bpf.entries('bytes').map(([key, value]) => trafficOf(key, value))
      return table.next(traffic, await loadavgCaption((path) => ctx.files.read(path)))
    },
    lost: async () => bpf.lost(),
  }
}

// The kernel functions the fentry and kprobe candidates hook.
const TCP_FUNCTIONS = {send: 'tcp_sendmsg', receive: 'tcp_cleanup_rbuf'}

/** tcptop on the BTF-typed sock_send_length/sock_recv_length (tcptop.tp_btf.bpf.c), with addresses. */
export const tpBtf: Runner<TcptopOptions> = {
  async start(ctx) {
    const bpf = await BpfTool.forRun('tcptop.tp_btf', ctx)
    bpf.load(['send_length', 'recv_length'])
    bpf.attach('send_length', {kind: 'trace'}, 'tp_btf sock:sock_send_length')
    bpf.attach('recv_length', {kind: 'trace'}, 'tp_btf sock:sock_recv_length')
    return trafficCollector(bpf, ctx)
  },
}

/** tcptop by fentry on tcp_sendmsg and tcp_cleanup_rbuf (tcptop.tp_btf.bpf.c), with addresses. */
export const fentry: Runner<TcptopOptions> = {
  async start(ctx) {
    const bpf = await BpfTool.forRun('tcptop.tp_btf', ctx)
    bpf.load(['sendmsg_fentry', 'cleanup_rbuf_fentry'])
    bpf.attach('sendmsg_fentry', {kind: 'trace'}, `fentry ${TCP_FUNCTIONS.send}`)
    bpf.attach('cleanup_rbuf_fentry', {kind: 'trace'}, `fentry ${TCP_FUNCTIONS.receive}`)
    return trafficCollector(bpf, ctx)
  },
}

/** tcptop by kprobes on tcp_sendmsg and tcp_cleanup_rbuf, with addresses from BTF (tcptop.tp_btf.bpf.c). */
export const kprobeBtf: Runner<TcptopOptions> = {
  async start(ctx) {
    const bpf = await BpfTool.forRun('tcptop.tp_btf', ctx)
    bpf.load(['sendmsg_kprobe', 'cleanup_rbuf_kprobe'])
    await bpf.attachKprobe('sendmsg_kprobe', TCP_FUNCTIONS.send, false, ctx.files, ctx.probe.tracefs, ctx.pid)
    await bpf.attachKprobe('cleanup_rbuf_kprobe', TCP_FUNCTIONS.receive, false, ctx.files, ctx.probe.tracefs, ctx.pid)
    return trafficCollector(bpf, ctx)
  },
}

/**
 * tcptop by a kprobe on tcp_sendmsg and a kretprobe on tcp_recvmsg, without BTF (tcptop.bpf.c):
 * no addresses. A read's bytes are its return value, which counts each byte once on every kernel
 * (tcp_cleanup_rbuf's copied counts some twice before 5.17).
 */
export const kprobe: Runner<TcptopOptions> = {
  async start(ctx) {
    const bpf = await BpfTool.forRun('tcptop', ctx)
    bpf.load(['sendmsg_kprobe', 'recvmsg_kretprobe'])
    await bpf.attachKprobe('sendmsg_kprobe', TCP_FUNCTIONS.send, false, ctx.files, ctx.probe.tracefs, ctx.pid)
    await bpf.attachKprobe('recvmsg_kretprobe', 'tcp_recvmsg', true, ctx.files, ctx.probe.tracefs, ctx.pid)
    return trafficCollector(bpf, ctx)
  },
}

/** tcptop on the classic sock_send_length/sock_recv_length (tcptop.bpf.c), fields at their format's offsets: no addresses. */
export const tracepoint: Runner<TcptopOptions> = {
  async start(ctx) {
    const send = await readEventFormat(ctx.files, ctx.probe.tracefs!, 'sock/sock_send_length')
    const recv = await readEventFormat(ctx.files, ctx.probe.tracefs!, 'sock/sock_recv_length')
    const bpf = await BpfTool.forRun('tcptop', ctx)
    // Both events are of one class (sock_msg_length): one set of offsets serves both.
    for (const [field, size] of [['family', 2], ['protocol', 2], ['ret', 4], ['flags', 4]] as const) {
      const offset = fieldOffset(send, field, [size])
      if (fieldOffset(recv, field, [size]) !== offset) throw new NotSupportedError(`sock_send_length and sock_recv_length disagree on ${field}'s offset`)
      bpf.setU32(`${field}_offset`, offset)
    }
    bpf.load(['send_length', 'recv_length'])
    bpf.attachTracepoint('send_length', send)
    bpf.attachTracepoint('recv_length', recv)
    return trafficCollector(bpf, ctx)
  },
}
