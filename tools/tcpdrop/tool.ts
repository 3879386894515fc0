import {BPF, TP_BTF} from '../../src/plan/needs.js'
import type {ToolOptions} from '../../src/plan/options.js'
import {defineTool} from '../../src/plan/tool.js'
import type {RowColumn} from '../../src/result/model.js'
import {pidFlag} from '../../src/tool-flags.js'

/**
 * tcpdrop: one row per TCP packet the kernel drops, as it happens, with the drop's reason (5.17+)
 * and the kernel stack that dropped it, from the skb:kfree_skb tracepoint.
 */
export type TcpdropOptions = ToolOptions

export const NAME = 'tcpdrop'
export const EVENT = 'skb/kfree_skb'

/**
 * bcc's columns (TIME PID IP SADDR:SPORT > DADDR:DPORT STATE (FLAGS)), each address and port its
 * own field, then the reason and the kernel stack (innermost frame first). A field the backend
 * cannot know is null.
 */
export const COLUMNS: RowColumn[] = [
  {name: 'time', title: 'TIME', type: 'clock'},
  {name: 'pid', title: 'PID', type: 'integer'},
  {name: 'ip', title: 'IP', type: 'integer', width: 2},
  {name: 'saddr', title: 'SADDR', type: 'string', width: 15},
  {name: 'sport', title: 'SPORT', type: 'integer', width: 5},
  {name: 'daddr', title: 'DADDR', type: 'string', width: 15},
  {name: 'dport', title: 'DPORT', type: 'integer', width: 5},
  {name: 'state', title: 'STATE', type: 'string', width: 11},
  {name: 'flags', title: 'FLAGS', type: 'string', width: 9},
  {name: 'reason', title: 'REASON', type: 'string'},
  {name: 'stack', title: 'STACK', type: 'frames'},
]

// The kernel stack, from a stack trace map, and the time of each drop.
const STACK = ['bpf-map-stack-trace', 'bpf-helper-get-stackid', 'bpf-helper-ktime-get-ns']

export const tcpdrop = defineTool({
  name: NAME,
  summary: 'TCP packets the kernel drops, a row each with its reason and kernel stack',
  output: 'rows',
  columns: COLUMNS,
  command: {
    summary: 'TCP packets the kernel drops: a row per drop, with its addresses, reason and kernel stack, as it happens',
    usage: 'tcpdrop [FLAGS] [-- COMMAND [ARGS...]]',
    flags: {pid: pidFlag},
  },
  help: {
    measures: `Prints a row for every TCP packet the kernel frees as a drop rather than as delivered: when,
the process that was running, the IP version, the packet's addresses and ports, the state of the
socket it belonged to and its TCP flags, the kernel's reason for the drop (NO_SOCKET,
TCP_CSUM, ...; since Linux 5.17, named as the running kernel names them) and the kernel stack
that dropped it, a frame a line. Drops are what retransmits, resets and stalls come from: a SYN to
a port nobody listens on (NO_SOCKET), a full accept queue, a checksum error, a firewall.
A drop happens where the packet is processed, mostly in a softirq: its PID is the task that was
running then (on loopback usually the sender; from the network whichever task the interrupt
came in, often 0, the idle task). --pid and a command after -- keep the drops made while that
process ran. Where the kernel has no BTF the packet's headers cannot be read: the addresses,
ports, state and flags are "-", and TCP's drops are told apart by their stack, which passes
through TCP. The ftrace backend knows the same as that.`,
    origin: `bcc's tcpdrop(8), which kprobes tcp_drop(); here the skb:kfree_skb tracepoint, which every drop goes through since 5.17 (with its reason) and a SYN to a closed port always.`,
    examples: [
      {description: 'Every TCP drop on the system until Ctrl-C:', command: '<%= config.bin %> tcpdrop'},
      {description: 'The drops while a command runs, as NDJSON (a line per drop, then a summary):', command: '<%= config.bin %> tcpdrop --json -- curl -s http://127.0.0.1:9'},
      {description: 'Drops for 30 seconds through the ftrace backend:', command: '<%= config.bin %> tcpdrop -b ftrace -d 30'},
    ],
  },
  options({flags}): TcpdropOptions {
    // --pid against a command, and whether it runs: checked by the session before probing (src/run.ts).
    return {pid: flags.pid}
  },
  candidates: [
    {
      id: 'bpf-tp-btf',
      backend: 'bpf',
      method: 'BPF program on the BTF-typed skb:kfree_skb (tp_btf): the IP and TCP headers read from the skb, non-TCP packets and normal frees left out, kernel stacks in a stack trace map, a record per drop through a ring buffer; and a kprobe on tcp_drop() where the kernel has one (4.10 to 5.x)',
      needs: [...BPF, ...TP_BTF, ...STACK, 'bpf-map-hash', 'bpf-map-ringbuf', 'tracepoints'],
      uses: ['bpf-kprobe'],
      runner: async () => (await import('./bpf.js')).tpBtf,
    },
    {
      id: 'bpf-tracepoint',
      backend: 'bpf',
      method: 'BPF program on the classic skb:kfree_skb (no BTF: IPv4 and IPv6 drops with their L3 protocol and reason, kept by diag when their stack passes through TCP), kernel stacks in a stack trace map, a record per drop through a ring buffer (a perf buffer before 5.8); and a kprobe on tcp_drop() where the kernel has one (4.10 to 5.x)',
      needs: [...BPF, ...STACK, 'bpf-map-hash', 'bpf-map-perf-event-array', 'bpf-tracepoint', 'tracepoints'],
      uses: ['bpf-global-data', 'bpf-map-ringbuf', 'bpf-kprobe'],
      runner: async () => (await import('./bpf.js')).tracepoint,
    },
    {
      id: 'ftrace-stream',
      backend: 'ftrace',
      method: 'skb:kfree_skb events filtered to IPv4 and IPv6 drops in a private instance, each with its kernel stack (the stacktrace option), kept by diag when the stack passes through TCP',
      needs: ['ftrace-instances', 'tracepoints'],
      runner: async () => (await import('./ftrace.js')).stream,
    },
  ],
})
