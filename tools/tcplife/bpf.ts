import {BpfTool} from '../../backends/bpf/bpf-tool.js'
import {EventBuffer, eventBufferKind, eventRowsCollector} from '../../backends/bpf/event-buffer.js'
import type {Collector, RunContext, RowStream, Runner} from '../../backends/runner.js'
import {NotSupportedError} from '../../src/errors.js'
import {AF_INET} from '../../src/net/address.js'
import {calibrateTcpSock, calibratedHow} from '../../src/net/tcp-offsets.js'
import {fieldOffset, readEventFormat} from '../../src/tracefs/format.js'
import {type ClosedSession, sessionRow, wantedPorts} from './session.js'
import {COLUMNS, NAME, type TcplifeOptions} from './tool.js'

// struct tcplife_event (tcplife.h).
const EVENT = {spanNs: 0, endNs: 8, txBytes: 16, rxBytes: 24, pid: 32, lport: 36, rport: 38, family: 40, known: 42, comm: 44, laddr: 60, raddr: 76, commLength: 16}
const KNOWN = {owner: 1, span: 2, bytes: 4}

/** One record of tcplife.h's struct tcplife_event as what the backend knows of the session. */
export function decodeSession(record: Buffer): ClosedSession {
  const known = record.readUInt8(EVENT.known)
  const has = (bit: number) => (known & bit) !== 0
  const addressLength = record.readUInt16LE(EVENT.family) === AF_INET ? 4 : 16
  const comm = record.subarray(EVENT.comm, EVENT.comm + EVENT.commLength)
  const end = comm.indexOf(0)
  return {
    pid: has(KNOWN.owner) ? record.readUInt32LE(EVENT.pid) : null,
    comm: has(KNOWN.owner) ? comm.toString('utf8', 0, end < 0 ? comm.length : end) : null,
    laddr: Uint8Array.from(record.subarray(EVENT.laddr, EVENT.laddr + addressLength)),
    raddr: Uint8Array.from(record.subarray(EVENT.raddr, EVENT.raddr + addressLength)),
    lport: record.readUInt16LE(EVENT.lport),
    rport: record.readUInt16LE(EVENT.rport),
    txBytes: has(KNOWN.bytes) ? Number(record.readBigUInt64LE(EVENT.txBytes)) : null,
    rxBytes: has(KNOWN.bytes) ? Number(record.readBigUInt64LE(EVENT.rxBytes)) : null,
    spanMs: has(KNOWN.span) ? Number(record.readBigUInt64LE(EVENT.spanNs)) / 1e6 : null,
    closedAt: Number(record.readBigUInt64LE(EVENT.endNs)) / 1e9,
  }
}

/** The rows of a loaded object's records, as they arrive, filtered by port. */
function sessionsCollector(bpf: BpfTool, ctx: RunContext<TcplifeOptions>, backend: string, read?: string): Collector & RowStream {
  const events = EventBuffer.open(bpf, ctx.undo)
  return eventRowsCollector(events, `${bpf.attachments}, records through a ${events.kind} buffer${read ? `, ${read}` : ''}`, COLUMNS, (records) =>
    records
      .map(decodeSession)
      .filter((s) => wantedPorts(ctx.options, s))
      .map((s) => sessionRow(s, backend)),
  )
}

/** tcplife from the BTF-typed tracepoint: the socket itself, bytes included (tcplife.tp_btf.bpf.c). */
export const tpBtf: Runner<TcplifeOptions> = {
  async start(ctx) {
    const bpf = await BpfTool.forRun(`${NAME}.tp_btf`, ctx, 'ring')
    bpf.load(['inet_sock_set_state'])
    bpf.attach('inet_sock_set_state', {kind: 'trace'}, 'tp_btf sock:inet_sock_set_state')
    return sessionsCollector(bpf, ctx, 'bpf-tp-btf')
  },
}

// The classic tracepoint's fields tcplife.bpf.c reads, with their sizes.
const FIELDS: [string, number][] = [
  ['skaddr', 8], ['oldstate', 4], ['newstate', 4], ['sport', 2], ['dport', 2], ['family', 2], ['protocol', 2],
  ['saddr', 4], ['daddr', 4], ['saddr_v6', 16], ['daddr_v6', 16],
]

/**
 * Where tcp_sock keeps bytes_acked (TX) and bytes_received (RX) on this kernel, calibrated against
 * its own TCP_INFO (src/net/tcp-offsets.ts), which needs BPF kprobes; else why the bytes stay
 * unknown. A BTF that disagrees with the calibration is an error, not a reason.
 */
export async function calibratedBytes(ctx: RunContext<TcplifeOptions>): Promise<{acked: number; received: number; cached: boolean} | {why: string}> {
  if (ctx.probe.capabilities.find((c) => c.name === 'bpf-kprobe')?.status !== 'available') return {why: 'no BPF kprobes to calibrate tcp_sock with'}
  if (process.arch !== 'x64' && process.arch !== 'arm64') return {why: `calibrated for 64-bit kernels only, not ${process.arch}`}
  try {
    const {offsets, cached} = await calibrateTcpSock(ctx, ['bytes_acked', 'bytes_received'])
    return {acked: offsets.bytes_acked, received: offsets.bytes_received, cached}
  } catch (error) {
    if (error instanceof NotSupportedError) return {why: error.message}
    throw error
  }
}

/** Sets the byte counters' knobs (tcplife.h read_calibrated_bytes); says what the records carry. */
function setBytesOffsets(bpf: BpfTool, bytes: Awaited<ReturnType<typeof calibratedBytes>>): string {
  if ('why' in bytes) return `no bytes (${bytes.why})`
  bpf.setU32('bytes_acked_offset', bytes.acked)
  bpf.setU32('bytes_received_offset', bytes.received)
  return `tcp_sock.bytes_acked at ${bytes.acked} and bytes_received at ${bytes.received} (${calibratedHow(bytes.cached)})`
}

/** tcplife from the classic tracepoint, every field at its offset from the format file: no BTF; bytes where calibrated. */
export const tracepoint: Runner<TcplifeOptions> = {
  async start(ctx) {
    const bytes = await calibratedBytes(ctx)
    const format = await readEventFormat(ctx.files, ctx.probe.tracefs!, 'sock/inet_sock_set_state')
    const bpf = await BpfTool.forRun(NAME, ctx, eventBufferKind(ctx.probe))
    for (const [field, size] of FIELDS) bpf.setU32(`${field}_offset`, fieldOffset(format, field, [size]))
    const read = setBytesOffsets(bpf, bytes)
    bpf.load(['inet_sock_set_state'])
    bpf.attachTracepoint('inet_sock_set_state', format)
    return sessionsCollector(bpf, ctx, 'bpf-tracepoint', read)
  },
}

/**
 * Where struct sock_common has the IPv6 addresses (tcplife.kprobe.bpf.c), on 64-bit kernels:
 * after skc_net, a pointer that only CONFIG_NET_NS kernels have. Such a kernel shows
 * /proc/self/ns/net, which needs no config file to read.
 */
export function ipv6Offsets(netNamespaces: boolean): {daddr: number; rcvSaddr: number} {
  const daddr = netNamespaces ? 56 : 48
  return {daddr, rcvSaddr: daddr + 16}
}

/** tcplife from a kprobe on tcp_set_state, the socket read at offsets of struct sock_common: no BTF; bytes where calibrated. */
export const kprobe: Runner<TcplifeOptions> = {
  async start(ctx) {
    if (process.arch !== 'x64' && process.arch !== 'arm64') throw new NotSupportedError(`the socket offsets are those of 64-bit kernels, not ${process.arch}`)
    const bytes = await calibratedBytes(ctx)
    const v6 = ipv6Offsets(await ctx.files.exists('/proc/self/ns/net'))
    const bpf = await BpfTool.forRun(`${NAME}.kprobe`, ctx, eventBufferKind(ctx.probe))
    bpf.setU32('v6_daddr_offset', v6.daddr)
    bpf.setU32('v6_rcv_saddr_offset', v6.rcvSaddr)
    const read = setBytesOffsets(bpf, bytes)
    bpf.load(['tcp_set_state_entry'])
    await bpf.attachKprobe('tcp_set_state_entry', 'tcp_set_state', false, ctx.files, ctx.probe.tracefs, ctx.pid)
    return sessionsCollector(bpf, ctx, 'bpf-kprobe', read)
  },
}
