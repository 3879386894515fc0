import type {ToolResult} from '../result/model.js'

/**
 * What the pictures drawn from a run (a flame graph, a heat map) word the same way: the title (the
 * tool, where it ran, the backend and the run's length) and their numbers.
 */
export interface RunTitle {
  tool: string
  /** Null when it is not known (a saved result read by `diag show` does not record its host). */
  host: string | null
  kernel: string | null
  /** The candidate that ran and its backend: "bpf-tp-btf (bpf)". */
  backend: string
  seconds: number
}

/** A run's length as a picture labels it: "2.5 s", at most one decimal. */
export const secondsText = (seconds: number) => `${Number(seconds.toFixed(1))} s`

export function runTitleOf(result: Pick<ToolResult, 'tool' | 'kernel' | 'backend' | 'seconds'>, host: string | null): RunTitle {
  return {tool: result.tool, host, kernel: result.kernel, backend: `${result.backend.candidate} (${result.backend.name})`, seconds: result.seconds}
}

/** "runqlat on db1, kernel 6.1.0, bpf-tp-btf (bpf), 10 s". */
export function runTitleText(title: RunTitle): string {
  return `${title.tool} on ${title.host ?? 'an unrecorded host'}, kernel ${title.kernel ?? 'unknown'}, ${title.backend}, ${secondsText(title.seconds)}`
}

/** A count with its thousands grouped: "12,345". */
export const countText = (n: number) => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',')
