import type {TcprttOptions} from './tool.js'
import {AF_INET, AF_INET6, formatIp} from '../../src/net/address.js'
import {UNIT_NS} from '../../src/plan/options.js'
import type {Histogram} from '../../src/result/model.js'
import {Deltas} from '../../src/result/deltas.js'
import {log2Histogram} from '../../src/result/normalize.js'
import {fieldOffset, readEventFormat} from '../../src/tracefs/format.js'
import type {Collector, Runner} from '../../backends/runner.js'
import {BpfTool} from '../../backends/bpf/bpf-tool.js'
import {NotSupportedError} from '../../src/errors.js'
import {calibrateTcpSock, calibratedHow} from '../../src/net/tcp-offsets.js'
import {ipv6Offsets} from '../tcplife/bpf.js'


/** The remote address of a struct rtt_key (tcprtt.h: addr[16], family, pad, slot), or null for the total. */
export function hostLabel(key: Buffer): string | null {
  const family = key.readUInt16LE(16)
  if (family === AF_INET) return formatIp(key.subarray(0, 4))
  if (family === AF_INET6) return formatIp(key.subarray(0, 16))
  return family === 0 ? null : `family ${family}`
}

/** The `rtt` map (tcprtt.h), one log2 histogram per label, for the interval since the last read. */
export function rttHistograms(bpf: BpfTool, deltas: Deltas): Histogram[] {
  const current = new Map<string, number>()
  for (const [key, n] of bpf.countEntries('rtt')) {
    const id = `${hostLabel(key) ?? ''}/${key.readUInt32LE(20)}`
    current.set(id, (current.get(id) ?? 0) + n)
  }
  const byLabel = new Map<string, Map<number, number>>()
  for (const [id, n] of deltas.next(current)) {
    const at = id.lastIndexOf('/')
    const label = id.slice(0, at)
    if (!byLabel.has(label)) byLabel.set(label, new Map())
    byLabel.get(label)!.set(Number(id.slice(at + 1)), n)
  }
  return [...byLabel].map(([label, slots]) => log2Histogram(label === '' ? null : label, slots)).sort((a, b) => (a.label ?? '').localeCompare(b.label ?? ''))
}

function setCommonKnobs(bpf: BpfTool, options: TcprttOptions): void {
  bpf.setU32('lport', options.lport ?? 0)
  bpf.setU32('rport', options.rport ?? 0)
  bpf.setU8('per_host', options.byHost ? 1 : 0)
  bpf.setU32('unit_us', UNIT_NS[options.unit] / 1000)
}

function collector(bpf: BpfTool, options: TcprttOptions): Collector {
  const deltas = new Deltas()
  return {
    attach: bpf.attachments,
    async collect() {
      return {kind: 'histograms', unit: options.unit, labelKey: options.byHost ? 'host' : null, histograms: rttHistograms(bpf, deltas)}
    },
    async lost() {
      return bpf.lost()
    },
  }
}

/** tcprtt from tcp:tcp_probe, its fields at offsets read from tracefs: no BTF needed. */
export const tracepoint: Runner<TcprttOptions> = {
  async start({options, probe, files, undo}) {
    const format = await readEventFormat(files, probe.tracefs!, 'tcp/tcp_probe')
    const bpf = BpfTool.open('tcprtt', undo, probe)
    // A sockaddr_in6 (28 bytes) holds either family's address.
    bpf.setU32('daddr_offset', fieldOffset(format, 'daddr', [28]))
    bpf.setU32('sport_offset', fieldOffset(format, 'sport', [2]))
    bpf.setU32('dport_offset', fieldOffset(format, 'dport', [2]))
    bpf.setU32('srtt_offset', fieldOffset(format, 'srtt', [4]))
    setCommonKnobs(bpf, options)
    bpf.load(['tcp_probe'])
    bpf.attachTracepoint('tcp_probe', format)
    return collector(bpf, options)
  },
}

/** tcprtt from fentry on tcp_rcv_established, the socket read through BTF. */
export const fentry: Runner<TcprttOptions> = {
  async start({options, probe, undo}) {
    const bpf = BpfTool.open('tcprtt.btf', undo, probe)
    setCommonKnobs(bpf, options)
    bpf.load(['fentry_rcv_established'])
    bpf.attach('fentry_rcv_established', {kind: 'trace'}, 'fentry tcp_rcv_established')
    return collector(bpf, options)
  },
}

/** tcprtt from a kprobe on tcp_rcv_established, the socket read through BTF. */
export const kprobe: Runner<TcprttOptions> = {
  async start({options, probe, files, undo, pid}) {
    const bpf = BpfTool.open('tcprtt.btf', undo, probe)
    setCommonKnobs(bpf, options)
    bpf.load(['kprobe_rcv_established'])
    await bpf.attachKprobe('kprobe_rcv_established', 'tcp_rcv_established', false, files, probe.tracefs, pid)
    return collector(bpf, options)
  },
}

/**
 * tcprtt from a kprobe on tcp_rcv_established without BTF: srtt_us at the offset calibrated on
 * this kernel against its own TCP_INFO (src/net/tcp-offsets.ts), the ports and remote address at
 * sock_common's fixed offsets (bpf/sock-common.h).
 */
export const kprobeOffsets: Runner<TcprttOptions> = {
  async start(ctx) {
    const {options, probe, files, undo, pid} = ctx
    if (process.arch !== 'x64' && process.arch !== 'arm64') throw new NotSupportedError(`the socket offsets are those of 64-bit kernels, not ${process.arch}`)
    const {
      offsets: {srtt_us: srttOffset},
      cached,
    } = await calibrateTcpSock(ctx, ['srtt_us'])
    const bpf = BpfTool.open('tcprtt.kprobe', undo, probe)
    setCommonKnobs(bpf, options)
    bpf.setU32('srtt_us_offset', srttOffset)
    bpf.setU32('v6_daddr_offset', ipv6Offsets(await files.exists('/proc/self/ns/net')).daddr)
    bpf.load(['kprobe_rcv_established'])
    await bpf.attachKprobe('kprobe_rcv_established', 'tcp_rcv_established', false, files, probe.tracefs, pid)
    return {...collector(bpf, options), attach: `${bpf.attachments}, tcp_sock.srtt_us at ${srttOffset} (${calibratedHow(cached)})`}
  },
}
