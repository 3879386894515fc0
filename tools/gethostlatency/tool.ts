import {Flags} from '@oclif/core'

import {BadInputError} from '../../src/errors.js'
import type {ToolOptions} from '../../src/plan/options.js'
import {BPF} from '../../src/plan/needs.js'
import {defineTool} from '../../src/plan/tool.js'
import type {RowColumn} from '../../src/result/model.js'
import {checkCommand} from '../../src/system/executable.js'
import {type Libc, findLibc} from '../../src/system/libc.js'
import {pidFlag} from '../../src/tool-flags.js'
import {isRunning} from '../../src/tracefs/names.js'

/**
 * gethostlatency: one row per name lookup (getaddrinfo, gethostbyname, gethostbyname2) as it
 * returns, with its latency and the host asked for, from uprobes on the libc the traced process
 * (or the system) uses.
 */
export interface GethostlatencyOptions extends ToolOptions {
  /** The libc whose lookup functions are probed, found before anything touches the kernel. */
  libc: Libc
}

export const NAME = 'gethostlatency'

/** bcc's columns: TIME PID COMM LATms HOST. The pid is the process (thread group); the time is the return's. */
export const COLUMNS: RowColumn[] = [
  {name: 'time', title: 'TIME', type: 'clock'},
  {name: 'pid', title: 'PID', type: 'integer'},
  {name: 'comm', title: 'COMM', type: 'string', width: 16},
  {name: 'latMs', title: 'LATms', type: 'time', unit: 'ms'},
  {name: 'host', title: 'HOST', type: 'string'},
]

export const gethostlatency = defineTool({
  name: NAME,
  summary: 'DNS lookup latency, a row per lookup as it returns',
  output: 'rows',
  columns: COLUMNS,
  command: {
    summary: 'DNS lookup latency: a row per getaddrinfo/gethostbyname call as it returns',
    usage: 'gethostlatency [FLAGS] [-- COMMAND [ARGS...]]',
    flags: {
      pid: pidFlag,
      libc: Flags.string({char: 'l', summary: 'Trace this libc (a path) instead of the one the process or the system uses'}),
    },
  },
  help: {
    measures: `Prints a line for every name lookup a process makes through its libc (getaddrinfo,
gethostbyname, gethostbyname2) as the call returns: when, which process, how long it took in
milliseconds, and the host name asked for. Slow DNS shows up here first: a resolver that times out
and retries, a lookup per request that should be cached, a search domain list tried name by name.
The libc is the one the traced process maps (--pid), the one a command will load, or the system's
from the loader cache; --libc names another.`,
    origin: `bcc's gethostlatency(8) and bpftrace's gethostlatency.bt, on uprobes of the libc's lookup functions.`,
    examples: [
      {description: 'Every lookup on the system until Ctrl-C:', command: '<%= config.bin %> gethostlatency'},
      {description: 'The lookups of one command, as NDJSON (a line per lookup, then a summary):', command: '<%= config.bin %> gethostlatency --json -- curl -s https://example.org'},
      {description: 'The lookups of a running process for 30 seconds:', command: '<%= config.bin %> gethostlatency -p 1234 -d 30'},
    ],
  },
  /**
   * The libc is found here (from --libc, the process's maps, the command's needed libc, or the
   * loader cache), so that a bad one is refused before the probe touches the kernel.
   */
  async options({flags, command}): Promise<GethostlatencyOptions> {
    if (flags.pid !== undefined && command) throw new BadInputError('--pid and a command after -- both say which process to trace; give one')
    if (flags.pid !== undefined && !isRunning(flags.pid)) throw new BadInputError(`--pid ${flags.pid}: no such process is running`)
    const program = command ? checkCommand(command) : undefined
    const libc = await findLibc(flags.libc === undefined ? {pid: flags.pid, program} : {libc: flags.libc})
    return {pid: flags.pid, libc}
  },
  candidates: [
    {
      id: 'bpf-uprobe',
      backend: 'bpf',
      method: 'BPF uprobe and uretprobe on each lookup function of the libc, a row per lookup through a ring buffer (a perf buffer before 5.8)',
      needs: [...BPF, 'bpf-uprobe', 'bpf-map-hash', 'bpf-map-perf-event-array', 'bpf-helper-ktime-get-ns', 'bpf-helper-get-current-comm'],
      uses: ['bpf-global-data', 'bpf-map-ringbuf'],
      runner: async () => (await import('./bpf.js')).uprobe,
    },
    {
      id: 'ftrace-uprobe-events',
      backend: 'ftrace',
      method: 'uprobe and uretprobe events on each lookup function of the libc (the host string fetched from the first argument), paired in diag from a private instance',
      needs: ['ftrace-instances', 'uprobe-events'],
      runner: async () => (await import('./ftrace.js')).uprobeEvents,
    },
  ],
})
