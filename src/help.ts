import type {AnyTool, Candidate} from './plan/tool.js'

/**
 * What `diag help TOOL`, `diag TOOL --help` and the man pages (scripts/cli-docs.mjs) say about a
 * tool besides its flags: its own prose (tools/<name>/tool.ts) and its candidates, read from the
 * same data routing reads, so the help lists exactly what routing will try, in its order.
 */
export function toolDescription(tool: AnyTool): string {
  const backends = tool.candidates.map((c: Candidate) => `- ${c.id} (${c.backend}): ${c.method}`)
  return [
    tool.help.measures.replace(/\n/g, ' '),
    '',
    `Follows ${tool.help.origin.replace(/\n/g, ' ')}`,
    '',
    'Backends, in order of preference (the first this kernel supports runs; --backend forces a backend name or an id):',
    ...backends,
  ].join('\n')
}
