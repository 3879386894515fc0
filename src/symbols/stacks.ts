import type {Stack, Stacks} from '../result/kinds/stacks.js'

/** A value per stack (time blocked, samples), keyed by stackKey() (a frame never holds a "\n"). */
export type StackTally = Map<string, number>

/**
 * A stack's key in a tally: where its kernel frames start, then its frames outermost first, as
 * folded stacks put them: the comm, the user frames from main (or _start) inwards, then the
 * kernel frames from the system call entry to the scheduler. Both lists come innermost first, as
 * stack walkers give them.
 */
export function stackKey(first: string, userInnermostFirst: string[], kernelInnermostFirst: string[]): string {
  const kernelFrom = 1 + userInnermostFirst.length
  return [String(kernelFrom), first, ...[...userInnermostFirst].reverse(), ...[...kernelInnermostFirst].reverse()].join('\n')
}

/** The frames between a blocked task's and its waker's in an off-wake stack, as bcc's offwaketime puts them. */
export const WAKER_SEPARATOR = '--'
/** The waker of a block whose wakeup diag did not see (preempted, or woken before tracing began). */
export const UNKNOWN_WAKER = '[unknown waker]'

/** The task that woke a blocked one: its first frame (comm), and its stacks innermost first. */
export interface WakerFrames {
  first: string
  user: string[]
  kernel: string[]
}

/**
 * An off-wake stack's key in a tally: the blocked task's frames as stackKey() puts them, the
 * separator, then the waker's frames innermost first (kernel, then user, its comm last), so that
 * in a flame graph the waker's stack stands upside down on the blocked one's, the wakeup in the
 * middle. An unknown waker (undefined) is one frame, UNKNOWN_WAKER.
 */
export function offWakeKey(first: string, userInnermostFirst: string[], kernelInnermostFirst: string[], waker: WakerFrames | undefined): string {
  const kernelFrom = 1 + userInnermostFirst.length
  const wakerFrom = kernelFrom + kernelInnermostFirst.length
  const wakerFrames = waker ? [...waker.kernel, ...waker.user, waker.first] : [UNKNOWN_WAKER]
  const wakerUserFrom = wakerFrom + 1 + (waker ? waker.kernel.length : 0)
  const wakee = [first, ...[...userInnermostFirst].reverse(), ...[...kernelInnermostFirst].reverse()]
  return [`${kernelFrom} ${wakerFrom} ${wakerUserFrom}`, ...wakee, WAKER_SEPARATOR, ...wakerFrames].join('\n')
}

/** The stack a tally's key stands for, with its value. */
export function stackOfKey(key: string, value: number): Stack {
  const [header, ...frames] = key.split('\n')
  const [kernelFrom, wakerFrom, wakerUserFrom] = header.split(' ').map(Number)
  return wakerFrom === undefined ? {frames, kernelFrom, value} : {frames, kernelFrom, wakerFrom, wakerUserFrom, value}
}

// The tracer's own frames at the top of a kernel stack recorded from inside the tracepoint: the
// BPF program and the trampoline that ran it (tp_btf), or ftrace's event code (the stacktrace option).
export const TRACER_FRAME = /^(bpf_prog_|bpf_trace_run\d|__bpf_trace_|__traceiter_|trace_event_raw_event_|perf_trace_|trace_call_bpf|__ftrace_trace_stack|__trace_stack|trace_event_buffer_commit|trace_buffer_unlock_commit|event_triggers_post_call)/

/** A kernel stack (innermost first) without the tracer's frames on top: it ends in the scheduler. */
export function withoutTracerFrames(kernelInnermostFirst: string[]): string[] {
  let first = 0
  while (first < kernelInnermostFirst.length - 1 && TRACER_FRAME.test(kernelInnermostFirst[first])) first++
  return kernelInnermostFirst.slice(first)
}

/** A tally as the stacks output kind, each value rounded to a whole `unit`. */
export function stacksOf(tally: StackTally, unit: string): Stacks {
  return {kind: 'stacks', unit, stacks: [...tally].map(([key, value]) => stackOfKey(key, Math.round(value)))}
}
