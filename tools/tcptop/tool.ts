import {Flags} from '@oclif/core'

import {BPF, KNOBS, TP_BTF} from '../../src/plan/needs.js'
import type {ToolOptions} from '../../src/plan/options.js'
import {defineTool} from '../../src/plan/tool.js'
import {pidFlag, topFlag} from '../../src/tool-flags.js'

/** tcptop: TCP bytes received and sent, by process and connection, a table each interval. */
export interface TcptopOptions extends ToolOptions {
  /** Rows shown per interval, the busiest first. */
  top: number
  /** The column rows are sorted by. */
  sort: 'rx' | 'tx'
}

export const NAME = 'tcptop'

// Each row's bytes counted in the kernel by process and socket (tcptop.h).
const MAPS = ['bpf-map-hash', 'bpf-helper-get-current-comm']
// The connection's addresses are read from struct sock at offsets from the kernel's BTF; that
// object (tcptop.tp_btf.bpf.o) is built with its knobs as globals only, as every tp_btf object is.
const ADDRESSES_FROM_BTF = ['btf', 'bpf-global-data']

export const tcptop = defineTool({
  name: NAME,
  summary: 'TCP throughput by process and connection, a table each interval',
  output: 'table',
  command: {
    summary: 'TCP bytes received and sent by process and connection (PID COMM LADDR RADDR RX_KB TX_KB)',
    usage: 'tcptop [FLAGS] [-- COMMAND [ARGS...]]',
    flags: {
      pid: pidFlag,
      top: topFlag(20),
      sort: Flags.option({options: ['rx', 'tx'] as const, default: 'tx', summary: 'Sort rows by kilobytes received (rx) or sent (tx)'})(),
    },
  },
  help: {
    measures: `Sums the bytes each process receives and sends over TCP, by connection (local and remote
address and port), and prints the busiest in a table, refreshed each interval (-i) with the load
average above it. RX_KB is what reads took from the socket, TX_KB what writes handed to it, in
kilobytes (1024 bytes; --json gives them unrounded). Which process talks to whom, and how much:
a chatty client, a replica catching up, a backup saturating the link. Backends that cannot see the
connection (no BTF to find the addresses in the socket, or an ftrace kprobe event) print "-" for
LADDR and RADDR (null in --json) and one row per process.`,
    origin: `bcc's tcptop(8) (Brendan Gregg), which sums tcp_sendmsg and tcp_cleanup_rbuf with kprobes.`,
    examples: [
      {description: 'The busiest TCP talkers, a table every second until Ctrl-C:', command: '<%= config.bin %> tcptop -i 1'},
      {description: "One process's connections for 10 seconds, the top 5 by bytes received:", command: '<%= config.bin %> tcptop -p 1234 -d 10 --top 5 --sort rx'},
      {description: 'What one download moved, as JSON:', command: '<%= config.bin %> tcptop --json -- curl -so /dev/null https://example.org'},
    ],
  },
  options: ({flags}): TcptopOptions => ({pid: flags.pid, top: flags.top, sort: flags.sort}),
  candidates: [
    {
      id: 'bpf-tp-btf',
      backend: 'bpf',
      method: 'BPF on the BTF-typed sock:sock_send_length and sock_recv_length tracepoints (tp_btf, 6.3+), bytes by process and connection in a hash, addresses read from the socket (CO-RE)',
      needs: [...BPF, ...MAPS, ...TP_BTF, 'sock-length-tracepoints'],
      runner: async () => (await import('./bpf.js')).tpBtf,
    },
    {
      id: 'bpf-fentry',
      backend: 'bpf',
      method: 'BPF fentry on tcp_sendmsg (its size) and tcp_cleanup_rbuf (bytes copied), by process and connection in a hash, addresses read from the socket (CO-RE)',
      needs: [...BPF, ...MAPS, ...ADDRESSES_FROM_BTF, 'bpf-fentry'],
      runner: async () => (await import('./bpf.js')).fentry,
    },
    {
      id: 'bpf-kprobe-btf',
      backend: 'bpf',
      method: 'BPF kprobes on tcp_sendmsg (its size) and tcp_cleanup_rbuf (bytes copied), by process and connection in a hash, addresses read from the socket (CO-RE)',
      needs: [...BPF, ...MAPS, ...ADDRESSES_FROM_BTF, 'bpf-kprobe'],
      runner: async () => (await import('./bpf.js')).kprobeBtf,
    },
    {
      id: 'bpf-tracepoint',
      backend: 'bpf',
      method: 'BPF on the classic sock:sock_send_length and sock_recv_length tracepoints (6.3+), bytes by process; no BTF, so no addresses',
      needs: [...BPF, ...MAPS, 'bpf-tracepoint', 'sock-length-tracepoints'],
      ...KNOBS,
      runner: async () => (await import('./bpf.js')).tracepoint,
    },
    {
      id: 'bpf-kprobe',
      backend: 'bpf',
      method: 'BPF kprobe on tcp_sendmsg (its size argument) and kretprobe on tcp_recvmsg (bytes read), bytes by process; no BTF, so no addresses',
      needs: [...BPF, ...MAPS, 'bpf-kprobe'],
      ...KNOBS,
      runner: async () => (await import('./bpf.js')).kprobe,
    },
    {
      id: 'ftrace-sock-hist',
      backend: 'ftrace',
      method: 'hist triggers keyed by common_pid on the sock:sock_send_length and sock_recv_length tracepoints (6.3+) in a private instance, summing their length (ret) for TCP; no addresses',
      needs: ['ftrace-instances', 'tracepoints', 'hist-triggers', 'sock-length-tracepoints'],
      runner: async () => (await import('./ftrace.js')).sockHist,
    },
    {
      id: 'ftrace-kprobe-hist',
      backend: 'ftrace',
      method: 'kprobe event on tcp_sendmsg (bytes=%dx) and kretprobe event on tcp_recvmsg (bytes=$retval) in a private instance, each summed by a hist trigger keyed by common_pid; no addresses',
      needs: ['ftrace-instances', 'kprobe-events', 'hist-triggers'],
      runner: async () => (await import('./ftrace.js')).kprobeHist,
    },
  ],
})
