import type {Runner} from './runner.js'

/**
 * The runners this diag has, by `<tool>/<candidate id>` from src/plan/tools.ts. Each loads its
 * module only when chosen, so `diag capabilities` never pays for a backend it does not run.
 */
const RUNNERS: Record<string, () => Promise<{default: Runner<never>}>> = {
  'syscount/bpf-tp-btf': async () => ({default: (await import('./bpf/syscount.js')).tpBtf}),
  'syscount/bpf-raw-tracepoint': async () => ({default: (await import('./bpf/syscount.js')).rawTracepoint}),
  'syscount/bpf-tracepoint': async () => ({default: (await import('./bpf/syscount.js')).tracepoint}),
  'syscount/ftrace-stream': async () => ({default: (await import('./ftrace/syscount.js')).stream}),
  'syscount/perf-stat': async () => ({default: (await import('./perf/syscount.js')).stat}),
  'biolatency/bpf-tracepoint': () => import('./bpf/biolatency.js'),
  'syscount/ftrace-hist': async () => ({default: (await import('./ftrace/syscount.js')).hist}),
  'biolatency/ftrace-hist': async () => ({default: (await import('./ftrace/biolatency.js')).hist}),
  'biolatency/ftrace-stream': async () => ({default: (await import('./ftrace/biolatency.js')).stream}),
  'runqlat/bpf-tp-btf': async () => ({default: (await import('./bpf/runqlat.js')).tpBtf}),
  'runqlat/bpf-tracepoint': async () => ({default: (await import('./bpf/runqlat.js')).tracepoint}),
  'runqlat/ftrace-hist': async () => ({default: (await import('./ftrace/runqlat.js')).hist}),
  'runqlat/ftrace-stream': async () => ({default: (await import('./ftrace/runqlat.js')).stream}),
  'funccount/bpf-kprobe-multi': async () => ({default: (await import('./bpf/funccount.js')).kprobeMulti}),
  'funccount/bpf-fentry': async () => ({default: (await import('./bpf/funccount.js')).fentry}),
  'funccount/bpf-kprobe': async () => ({default: (await import('./bpf/funccount.js')).kprobe}),
  'funccount/ftrace-profiler': async () => ({default: (await import('./ftrace/functions.js')).profilerCount}),
  'funccount/ftrace-kprobe-profile': async () => ({default: (await import('./ftrace/functions.js')).kprobeProfile}),
  'funccount/ftrace-function-stream': async () => ({default: (await import('./ftrace/functions.js')).functionStream}),
  'funcprofile/bpf-fentry': async () => ({default: (await import('./bpf/funcprofile.js')).fentry}),
  'funcprofile/bpf-kprobe': async () => ({default: (await import('./bpf/funcprofile.js')).kprobe}),
  'funcprofile/ftrace-profiler': async () => ({default: (await import('./ftrace/functions.js')).profilerTable}),
  'gethostlatency/ftrace-uprobe-events': async () => ({default: (await import('../tools/gethostlatency/ftrace.js')).uprobeEvents}),
}

export function isImplemented(tool: string, candidateId: string): boolean {
  return `${tool}/${candidateId}` in RUNNERS
}

export async function loadRunner<Options>(tool: string, candidateId: string): Promise<Runner<Options>> {
  const load = RUNNERS[`${tool}/${candidateId}`]
  if (!load) throw new Error(`no runner for ${tool}/${candidateId}`)
  return (await load()).default as unknown as Runner<Options>
}
