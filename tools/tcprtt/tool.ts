import {Flags} from '@oclif/core'

import {BPF_COUNTS, KNOBS} from '../../src/plan/needs.js'
import type {ToolOptions} from '../../src/plan/options.js'
import {defineTool} from '../../src/plan/tool.js'
import type {TimeUnit} from '../../src/result/model.js'
import {histogramUnit, unitFlag} from '../../src/tool-flags.js'

export interface TcprttOptions extends ToolOptions {
  unit: Extract<TimeUnit, 'usecs' | 'msecs'>
  /** One histogram per remote address. */
  byHost: boolean
  /** Only sockets with this local port / remote port (either or both). */
  lport?: number
  rport?: number
}

const port = (summary: string) => Flags.integer({min: 1, max: 65535, summary})

// The CO-RE object reads the socket through the running kernel's BTF; BTF came after global data (5.2).
const CORE = [...BPF_COUNTS, 'btf', 'bpf-global-data']

export const tcprtt = defineTool({
  name: 'tcprtt',
  summary: 'TCP smoothed round-trip time histogram',
  output: 'histograms',
  command: {
    summary: 'TCP smoothed round-trip time (srtt) as a log2 histogram',
    usage: 'tcprtt [FLAGS] [-- COMMAND [ARGS...]]',
    flags: {
      unit: unitFlag,
      'by-host': Flags.boolean({char: 'B', summary: 'One histogram per remote address'}),
      lport: port('Only sockets with this local port'),
      rport: port('Only sockets with this remote port'),
    },
  },
  help: {
    measures: `Samples the smoothed round-trip time (srtt, the kernel's running estimate per socket) each time an
established TCP socket receives a segment, and prints the samples as a log2 histogram, one for all
sockets or one per remote address (--by-host). Tells a slow network path from a slow peer: a
second mode far out is the remote hosts or the moments that see long round trips. Every socket on
the system is sampled; --lport and --rport keep one service or one peer port. A command after --
bounds the run; its own sockets are not singled out (segments arrive in softirq context, in
whatever task runs).`,
    origin: `bcc's tcprtt(8) (tcp_rcv_established), and the tcp:tcp_probe tracepoint that replaced the tcpprobe module.`,
    examples: [
      {description: 'RTT of every TCP socket over 10 seconds, in microseconds:', command: '<%= config.bin %> tcprtt -d 10'},
      {description: 'One histogram per remote host, in milliseconds, every 5 seconds:', command: '<%= config.bin %> tcprtt --by-host --unit ms -i 5'},
      {description: 'The clients of a local web server only:', command: '<%= config.bin %> tcprtt --lport 443 -d 30'},
    ],
  },
  options: ({flags}): TcprttOptions => ({unit: histogramUnit(flags.unit), byHost: flags['by-host'], lport: flags.lport, rport: flags.rport}),
  candidates: [
    {
      id: 'bpf-fentry',
      backend: 'bpf',
      method: 'BPF fentry on tcp_rcv_established, srtt_us read through BTF (CO-RE), log2 histogram in a map',
      needs: [...CORE, 'bpf-fentry'],
      runner: async () => (await import('./bpf.js')).fentry,
    },
    {
      id: 'bpf-kprobe',
      backend: 'bpf',
      method: 'BPF kprobe on tcp_rcv_established, srtt_us read through BTF (CO-RE), log2 histogram in a map',
      needs: [...CORE, 'bpf-kprobe'],
      runner: async () => (await import('./bpf.js')).kprobe,
    },
    {
      id: 'bpf-tracepoint',
      backend: 'bpf',
      method: 'BPF program on tcp:tcp_probe (its srtt field), log2 histogram in a map',
      needs: [...BPF_COUNTS, 'bpf-tracepoint', 'tcp-probe-tracepoint'],
      ...KNOBS,
      runner: async () => (await import('./bpf.js')).tracepoint,
    },
    {
      id: 'ftrace-hist',
      backend: 'ftrace',
      method: 'hist trigger on tcp:tcp_probe keyed by srtt, log2 slots made in diag',
      needs: ['ftrace-instances', 'hist-triggers', 'tcp-probe-tracepoint'],
      // 6.1 refuses `hist:keys=daddr` on tcp_probe (ENOMEM: no key function for a 28-byte field).
      accepts: (options: TcprttOptions) =>
        options.byHost ? ["gives the total only, not --by-host: a hist key is a number or a string, and tcp_probe's daddr is a 28-byte sockaddr"] : [],
      runner: async () => (await import('./ftrace.js')).hist,
    },
    {
      id: 'ftrace-stream',
      backend: 'ftrace',
      method: 'tcp:tcp_probe events from a private instance, srtt and dest read in diag',
      needs: ['ftrace-instances', 'tcp-probe-tracepoint'],
      runner: async () => (await import('./ftrace.js')).stream,
    },
    // Last: where tcp:tcp_probe or BTF is there, the others read the socket without calibrating.
    {
      id: 'bpf-kprobe-offsets',
      backend: 'bpf',
      method: 'BPF kprobe on tcp_rcv_established without BTF: srtt_us at its offset in tcp_sock calibrated on this kernel against its own TCP_INFO (a kprobe on tcp_get_info during a loopback connection of diag), the ports and address at fixed offsets of sock_common; log2 histogram in a map',
      needs: [...BPF_COUNTS, 'bpf-kprobe'],
      ...KNOBS,
      runner: async () => (await import('./bpf.js')).kprobeOffsets,
    },
  ],
})
