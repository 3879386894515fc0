import {Flags} from '@oclif/core'

import {BPF_COUNTS, KNOBS} from '../../src/plan/needs.js'
import type {ToolOptions} from '../../src/plan/options.js'
import {defineTool} from '../../src/plan/tool.js'
import type {TimeUnit} from '../../src/result/model.js'
import {histogramUnit, unitFlag} from '../../src/tool-flags.js'

export interface BiolatencyOptions extends ToolOptions {
  unit: Extract<TimeUnit, 'usecs' | 'msecs'>
  disks: boolean
  queued: boolean
}

export const biolatency = defineTool({
  name: 'biolatency',
  summary: 'block I/O latency histogram',
  output: 'histograms',
  command: {
    summary: 'Block I/O latency as a log2 histogram',
    usage: 'biolatency [FLAGS] [-- COMMAND [ARGS...]]',
    flags: {
      unit: unitFlag,
      disks: Flags.boolean({char: 'D', summary: 'One histogram per disk'}),
      queued: Flags.boolean({char: 'Q', summary: 'Include time queued in the kernel (from when the request is made, not issued)'}),
    },
  },
  help: {
    measures: `Times every block device I/O from when the device is given the request until it completes (or,
with --queued, from when the request is made), and prints the times as a log2 histogram, one for all
disks or one per disk. Tells a slow disk from a busy one: a second mode far out in the histogram is
the outliers an average hides.`,
    origin: `bcc's biolatency(8) and perf-tools' iolatency, both on the block request tracepoints.`,
    examples: [
      {description: 'Disk I/O latency over 10 seconds, in microseconds:', command: '<%= config.bin %> biolatency -d 10'},
      {description: 'One histogram per disk, in milliseconds, every 5 seconds:', command: '<%= config.bin %> biolatency --disks --unit ms -i 5'},
      {description: 'Include the time requests wait in the I/O scheduler, during a database load:', command: '<%= config.bin %> biolatency --queued -- pg_restore -d app dump.sql'},
    ],
  },
  options: ({flags}): BiolatencyOptions => ({unit: histogramUnit(flags.unit), disks: flags.disks, queued: flags.queued}),
  candidates: [
    {
      id: 'bpf-tracepoint',
      backend: 'bpf',
      method: 'BPF programs on block_rq_issue/complete, log2 histogram in a map',
      needs: [...BPF_COUNTS, 'bpf-map-array', 'bpf-helper-ktime-get-ns', 'bpf-tracepoint', 'tracepoints'],
      ...KNOBS,
      runner: async () => (await import('./bpf.js')).tracepoint,
    },
    {
      id: 'ftrace-hist',
      backend: 'ftrace',
      method: 'synthetic event joining block_rq_issue to block_rq_complete, hist trigger on it',
      needs: ['ftrace-instances', 'hist-triggers', 'synthetic-events'],
      runner: async () => (await import('./ftrace.js')).hist,
    },
    {
      id: 'ftrace-stream',
      backend: 'ftrace',
      method: 'block_rq_issue/complete events from a private instance, paired in diag',
      needs: ['ftrace-instances', 'tracepoints'],
      runner: async () => (await import('./ftrace.js')).stream,
    },
  ],
})
