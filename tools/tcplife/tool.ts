import {Flags} from '@oclif/core'

import {BadInputError} from '../../src/errors.js'
import {BPF_COUNTS, KNOBS, TP_BTF} from '../../src/plan/needs.js'
import type {ToolOptions} from '../../src/plan/options.js'
import {defineTool} from '../../src/plan/tool.js'
import type {RowColumn} from '../../src/result/model.js'
import {pidFlag} from '../../src/tool-flags.js'

/**
 * tcplife: one row per TCP session as it closes, with who owned it, its addresses and ports, the
 * bytes it sent and received and how long it lasted, from TCP's state changes.
 */
export interface TcplifeOptions extends ToolOptions {
  /** Only sessions with one of these local ports (--local-port); all when absent. */
  localPorts?: number[]
  /** Only sessions with one of these remote ports (--remote-port); all when absent. */
  remotePorts?: number[]
}

export const NAME = 'tcplife'

/**
 * bcc's columns, with its -T TIME first: when the session closed (so that rows from several hosts
 * merge in time order), and START, when it began, in JSON only (TIME and MS give it in text). The
 * pid and comm are the process that owned the session; TX_KB and RX_KB are KiB (exact in JSON,
 * rounded in text); MS is from the session's first state change to its close. A value the backend
 * could not know is null (`-` in text): START and MS of a session whose beginning was not seen.
 */
export const COLUMNS: RowColumn[] = [
  {name: 'time', title: 'TIME', type: 'clock'},
  {name: 'start', title: 'START', type: 'clock', jsonOnly: true},
  {name: 'pid', title: 'PID', type: 'integer'},
  {name: 'comm', title: 'COMM', type: 'string', width: 16},
  {name: 'laddr', title: 'LADDR', type: 'string', width: 15},
  {name: 'lport', title: 'LPORT', type: 'integer', width: 5},
  {name: 'raddr', title: 'RADDR', type: 'string', width: 15},
  {name: 'rport', title: 'RPORT', type: 'integer', width: 5},
  {name: 'txKb', title: 'TX_KB', type: 'integer', width: 5},
  {name: 'rxKb', title: 'RX_KB', type: 'integer', width: 5},
  {name: 'ms', title: 'MS', type: 'time', unit: 'ms'},
]

const portList = (flag: string, text: string | undefined): number[] | undefined => {
  if (text === undefined) return undefined
  const ports = text.split(',').map((p) => p.trim())
  const bad = ports.find((p) => !/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535)
  if (bad !== undefined) throw new BadInputError(`--${flag} takes ports from 1 to 65535, separated by commas, not ${JSON.stringify(bad)}`)
  return ports.map(Number)
}

// Sessions are followed in hash maps and sent through an event buffer.
const SESSIONS = [...BPF_COUNTS, 'bpf-helper-ktime-get-ns', 'bpf-helper-get-current-comm', 'tcp-state-tracepoint']

export const tcplife = defineTool({
  name: NAME,
  summary: 'TCP sessions, a row per session as it closes',
  output: 'rows',
  columns: COLUMNS,
  command: {
    summary: 'TCP sessions: a row per session as it closes, with its ports, bytes and duration',
    usage: 'tcplife [FLAGS] [-- COMMAND [ARGS...]]',
    flags: {
      pid: pidFlag,
      'local-port': Flags.string({char: 'L', summary: 'Only sessions with this local port (several: 80,443)', helpValue: '<ports>'}),
      'remote-port': Flags.string({char: 'D', summary: 'Only sessions with this remote port (several: 80,443)', helpValue: '<ports>'}),
    },
  },
  help: {
    measures: `Prints a line for every TCP session as it closes: when, the process that owned it, its local
and remote address and port, the KiB it sent and received, and how long it lasted in milliseconds
(JSON has when it began too).
Short-lived connections that no sampling sees show up here: a client that reconnects per request,
a health check, a connection refused or reset at once. The owner is the process whose system call
opened the session (connect) or first closed it: the other state changes happen as packets arrive,
in whatever process the kernel interrupted. IPv4 and IPv6. Without BTF, the bytes are read where diag found
tcp_sock's counters by calibrating them against the kernel's own TCP_INFO. A value the backend
cannot know (the bytes, where the socket cannot be read) is "-" (null in JSON), never a guess.`,
    origin: `bcc's tcplife(8) (Brendan Gregg), on the sock:inet_sock_set_state tracepoint, or a kprobe on tcp_set_state before 4.16.`,
    examples: [
      {description: 'Every TCP session on the system until Ctrl-C:', command: '<%= config.bin %> tcplife'},
      {description: 'The sessions of one command, as NDJSON (a line per session, then a summary):', command: '<%= config.bin %> tcplife --json -- curl -s https://example.org'},
      {description: 'Sessions to or from port 443 for 30 seconds:', command: '<%= config.bin %> tcplife -L 443 -d 30; <%= config.bin %> tcplife -D 443 -d 30'},
    ],
  },
  options({flags}): TcplifeOptions {
    // --pid against a command, and whether it runs: checked by the session before probing (src/run.ts).
    return {pid: flags.pid, localPorts: portList('local-port', flags['local-port']), remotePorts: portList('remote-port', flags['remote-port'])}
  },
  candidates: [
    {
      id: 'bpf-tp-btf',
      backend: 'bpf',
      method: 'BPF program on the BTF-typed sock:inet_sock_set_state (tp_btf): sessions followed by socket, addresses, ports and bytes read from the socket (CO-RE), a row per close through a ring buffer',
      needs: [...SESSIONS, ...TP_BTF, 'bpf-map-ringbuf'],
      runner: async () => (await import('./bpf.js')).tpBtf,
    },
    {
      id: 'bpf-tracepoint',
      backend: 'bpf',
      method: 'BPF program on sock:inet_sock_set_state, its fields at offsets from the format file (no BTF), a row per close through a ring buffer (a perf buffer before 5.8); the bytes (which the tracepoint does not carry) read from tcp_sock at offsets calibrated on this kernel against its own TCP_INFO, where it has BPF kprobes to calibrate with, else unknown',
      needs: [...SESSIONS, 'bpf-map-perf-event-array', 'bpf-tracepoint', 'tracepoints'],
      uses: [...KNOBS.uses, 'bpf-map-ringbuf', 'bpf-kprobe'],
      runner: async () => (await import('./bpf.js')).tracepoint,
    },
    {
      id: 'bpf-kprobe',
      backend: 'bpf',
      method: 'BPF kprobe on tcp_set_state (kernels before the tracepoint, 4.16), the socket read at offsets of struct sock_common (its head unchanged since 4.2; the IPv6 addresses placed by whether it has network namespaces), a row per close through a perf or ring buffer; the bytes read from tcp_sock at offsets calibrated on this kernel against its own TCP_INFO (their place moves with the version and config)',
      needs: [...BPF_COUNTS, 'bpf-helper-ktime-get-ns', 'bpf-helper-get-current-comm', 'bpf-map-perf-event-array', 'bpf-kprobe', 'tracepoints'],
      uses: [...KNOBS.uses, 'bpf-map-ringbuf'],
      runner: async () => (await import('./bpf.js')).kprobe,
    },
    {
      id: 'ftrace-stream',
      backend: 'ftrace',
      method: 'sock:inet_sock_set_state events (and sched_process_fork, to follow the traced process) from a private instance, sessions followed in diag by socket (the skaddr field); no bytes: the event does not carry them',
      needs: ['ftrace-instances', 'tracepoints', 'tcp-state-tracepoint'],
      runner: async () => (await import('./ftrace.js')).stream,
    },
  ],
})
