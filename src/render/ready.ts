import type {ToolResult} from '../result/model.js'

/** "Tracing ... Hit Ctrl-C to end.", as bcc's tools say it, naming what diag attached. */
export function readyLine(result: ToolResult, duration: number | undefined): string {
  const how = `with ${result.backend.candidate} (${result.backend.name})`
  const until = duration === undefined ? '' : `for ${duration} s, or `
  return `Tracing ${result.tool} ${how}... ${until}Hit Ctrl-C to end.`
}

/** The candidate and backend a ready line names, for whoever waits on it (runbook steps). */
export function parseReadyLine(text: string): {candidate: string; backend: string} | undefined {
  const match = /^Tracing \S+ with (\S+) \((\w+)\)\.\.\./m.exec(text)
  return match ? {candidate: match[1], backend: match[2]} : undefined
}
