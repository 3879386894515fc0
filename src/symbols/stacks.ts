import type {Stack, Stacks} from '../result/kinds/stacks.js'

/** A value per stack (time blocked, samples), keyed by its frames joined with "\n" (a frame never holds one). */
export type StackTally = Map<string, number>

/**
 * A stack's frames, outermost first, as folded stacks put them: the comm, the user frames from
 * main (or _start) inwards, then the kernel frames from the system call entry to the scheduler.
 * Both lists come innermost first, as stack walkers give them.
 */
export function stackFrames(first: string, userInnermostFirst: string[], kernelInnermostFirst: string[]): string {
  return [first, ...[...userInnermostFirst].reverse(), ...[...kernelInnermostFirst].reverse()].join('\n')
}

// The tracer's own frames at the top of a kernel stack recorded from inside the tracepoint: the
// BPF program and the trampoline that ran it (tp_btf), or ftrace's event code (the stacktrace option).
const TRACER_FRAME = /^(bpf_prog_|bpf_trace_run\d|__bpf_trace_|__traceiter_|trace_event_raw_event_|perf_trace_|trace_call_bpf|__ftrace_trace_stack|__trace_stack|trace_event_buffer_commit|trace_buffer_unlock_commit|event_triggers_post_call)/

/** A kernel stack (innermost first) without the tracer's frames on top: it ends in the scheduler. */
export function withoutTracerFrames(kernelInnermostFirst: string[]): string[] {
  let first = 0
  while (first < kernelInnermostFirst.length - 1 && TRACER_FRAME.test(kernelInnermostFirst[first])) first++
  return kernelInnermostFirst.slice(first)
}

/** A tally as the stacks output kind, each value rounded to a whole `unit`. */
export function stacksOf(tally: StackTally, unit: string): Stacks {
  const stacks: Stack[] = [...tally].map(([frames, value]) => ({frames: frames.split('\n'), value: Math.round(value)}))
  return {kind: 'stacks', unit, stacks}
}
