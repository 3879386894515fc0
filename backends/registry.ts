import type {Runner} from './runner.js'

/**
 * The runners this diag has, by `<tool>/<candidate id>` from src/plan/tools.ts. Each loads its
 * module only when chosen, so `diag capabilities` never pays for a backend it does not run.
 */
const RUNNERS: Record<string, () => Promise<{default: Runner<never>}>> = {
  'syscount/bpf-tracepoint': () => import('./bpf/syscount.js'),
  'biolatency/bpf-tracepoint': () => import('./bpf/biolatency.js'),
  'runqlat/bpf-tracepoint': () => import('./bpf/runqlat.js'),
}

export function isImplemented(tool: string, candidateId: string): boolean {
  return `${tool}/${candidateId}` in RUNNERS
}

export async function loadRunner<Options>(tool: string, candidateId: string): Promise<Runner<Options>> {
  const load = RUNNERS[`${tool}/${candidateId}`]
  if (!load) throw new Error(`no runner for ${tool}/${candidateId}`)
  return (await load()).default as unknown as Runner<Options>
}
