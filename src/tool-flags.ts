import {Args, Flags} from '@oclif/core'

import {BadInputError} from './errors.js'
import {type AnyTool, backendChoices} from './plan/tool.js'
import {checkFunctionPattern} from './tracefs/functions.js'

/**
 * The flags and arguments tools share: the session's (every tool has them) and those several
 * tools take the same way (a histogram's unit, a kernel function pattern).
 */
const seconds = Flags.custom<number>({
  async parse(input) {
    const value = Number(input)
    if (!Number.isFinite(value) || value <= 0) throw new Error(`expects a number of seconds above 0, not "${input}"`)
    return value
  },
})

export const sessionFlags = {
  duration: seconds({char: 'd', summary: 'Seconds to trace (default: until Ctrl-C, or until the command exits)'}),
  interval: seconds({char: 'i', summary: 'Print a result every this many seconds'}),
  backend: Flags.string({char: 'b', summary: 'Force a backend (bpf, ftrace, perf) or a candidate id, as `diag capabilities` lists them'}),
  quiet: Flags.boolean({char: 'q', summary: 'Do not print the "Tracing ..." line on stderr once tracing is attached'}),
  'no-cache': Flags.boolean({summary: "Probe the kernel (and calibrate tcp_sock) anew instead of reusing this boot's cached answers"}),
}

/** --backend with the tool's own choices, so that completion offers them and oclif checks them. */
export function backendFlag(tool: AnyTool) {
  const {char} = sessionFlags.backend
  const summary = 'Force a backend (bpf, ftrace, perf) or a candidate id, as listed under Backends below'
  return Flags.string({char, summary, options: backendChoices(tool), helpValue: '<backend|id>'})
}

/** --svg, on every tool whose output is stacks: the session writes the run's flame graph there too. */
export const svgFlag = Flags.string({
  summary: 'Also write the stacks as a flame graph to this SVG file (self-contained; hover, click to zoom, search in a browser)',
  helpValue: 'FILE',
})

/**
 * The heat map flags, on every tool whose output is log2 histograms. Without --interval a heat map
 * gets a column per second: the run is collected second by second (--json keeps those intervals)
 * while the text still prints the whole run once, as without the flags.
 */
export const heatmapFlags = {
  heatmap: Flags.string({
    summary: 'Also write a latency heat map (time by log2 bucket, colour by count; a column per interval, per second without -i) to this SVG file',
    helpValue: 'FILE',
  }),
  'heatmap-terminal': Flags.boolean({
    summary: 'Also print the latency heat map in the terminal: coloured blocks, or characters with NO_COLOR or when not a terminal (on stderr under --json)',
  }),
}

/** Seconds per heat map column when the run has no --interval. */
export const HEATMAP_DEFAULT_INTERVAL = 1

/** A latency histogram's unit; histogramUnit() turns it into the result's. */
export const unitFlag = Flags.option({options: ['us', 'ms'] as const, default: 'us', summary: 'Histogram unit'})()

export function histogramUnit(flag: 'us' | 'ms'): 'usecs' | 'msecs' {
  return flag === 'ms' ? 'msecs' : 'usecs'
}

/** --pid, for tools that can trace one process. */
export const pidFlag = Flags.integer({char: 'p', min: 1, summary: 'Only this process'})

/** Which stacks a stack tool records (offcputime, profile), and whether processes are kept apart. */
export const stackFlags = {
  'kernel-only': Flags.boolean({summary: 'Kernel stacks only', exclusive: ['user-only']}),
  'user-only': Flags.boolean({summary: 'User stacks only', exclusive: ['kernel-only']}),
  'per-pid': Flags.boolean({summary: 'Keep processes apart: the first frame is comm-PID, not the comm'}),
}

export function stacksWanted(flags: {'kernel-only': boolean; 'user-only': boolean; 'per-pid': boolean}): {stacks: 'both' | 'kernel' | 'user'; perPid: boolean} {
  if (flags['kernel-only'] && flags['user-only']) throw new BadInputError('--kernel-only and --user-only exclude each other')
  return {stacks: flags['kernel-only'] ? 'kernel' : flags['user-only'] ? 'user' : 'both', perPid: flags['per-pid']}
}

/** --min-block, for the tools that sum time blocked (offcputime, offwaketime). */
export const minBlockFlag = Flags.integer({min: 1, default: 1, summary: 'Only count blocks of at least this many microseconds'})

/** --top, with the tool's default number of rows. */
export const topFlag = (rows: number) => Flags.integer({char: 'T', min: 1, default: rows, summary: 'Show this many rows'})

/** A kernel function glob, checked when parsed. */
export const patternArg = Args.string({
  required: true,
  description: "Kernel function names, with * and ? wildcards: 'vfs_r*'",
  async parse(input) {
    checkFunctionPattern(input)
    return input
  },
})
