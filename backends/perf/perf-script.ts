/** One sample of `perf script -F comm,pid,ip,sym` output: its task and its call chain. */
export interface ScriptSample {
  comm: string
  /** The process (thread group) id. */
  pid: number
  /** Innermost first, as perf prints them. */
  frames: {address: bigint; symbol: string}[]
}

// "comm pid": the comm may hold spaces, the pid is the last word.
const HEADER = /^(.*?)\s+(\d+)\s*$/
// "\t    55d5c0b1a1b9 burn_cpu": perf prints user addresses absolute or relative to their file.
const FRAME = /^\s+([0-9a-f]+)(?:\s+(.*?))?\s*$/

/**
 * The samples of `perf script -F comm,pid,ip,sym` text: a header line per sample, then its call
 * chain a frame a line, then a blank line. Lines of neither shape (warnings) are skipped.
 */
export function parsePerfScript(text: string): ScriptSample[] {
  const samples: ScriptSample[] = []
  let current: ScriptSample | undefined
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      current = undefined
      continue
    }
    const frame = /^\s/.test(line) ? FRAME.exec(line) : null
    if (frame) {
      // A frame printed without a name is shown, as one perf could not name, never as an empty frame.
      if (current) current.frames.push({address: BigInt(`0x${frame[1]}`), symbol: frame[2] || '[unknown]'})
      continue
    }
    const header = HEADER.exec(line)
    if (!header) continue
    current = {comm: header[1], pid: Number(header[2]), frames: []}
    samples.push(current)
  }
  return samples
}

/** Kernel addresses on x86-64 and arm64: the upper half of the address space. */
export const KERNEL_SPACE = 0xffff800000000000n

/** One tracepoint sample of `perf script -F comm,pid,tid,cpu,time,event,trace,ip,sym --ns` output. */
export interface TraceSample extends ScriptSample {
  tid: number
  /** The CPU it was recorded on. */
  cpu: number
  /** Seconds, to the nanosecond. */
  time: number
  /** The event's name without its system: sched_switch. */
  event: string
  /** The event's fields as the kernel prints them: "prev_comm=... ==> next_pid=15". */
  body: string
}

// "diag-offcpu 11046/11046 [001] 35941.608563232:       sched:sched_switch: prev_comm=diag-offcpu ..."
const TRACE_HEADER = /^\s*(.*?)\s+(\d+)\/(\d+)\s+\[(\d+)\]\s+(\d+\.\d+):\s+[\w-]+:([\w-]+):\s?(.*)$/

/**
 * The samples of `perf script -F comm,pid,tid,cpu,time,event,trace,ip,sym --ns` text, each with its
 * call chain (when recorded with -g), innermost first. Lines of neither shape are skipped.
 */
export function parsePerfTraceScript(text: string): TraceSample[] {
  const samples: TraceSample[] = []
  let current: TraceSample | undefined
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      current = undefined
      continue
    }
    // The header first: perf may pad a short comm on the left.
    const header = TRACE_HEADER.exec(line)
    if (!header) {
      const frame = FRAME.exec(line)
      if (frame && current) current.frames.push({address: BigInt(`0x${frame[1]}`), symbol: frame[2] || '[unknown]'})
      continue
    }
    const [, comm, pid, tid, cpu, time, event, body] = header
    current = {comm, pid: Number(pid), tid: Number(tid), cpu: Number(cpu), time: Number(time), event, body, frames: []}
    samples.push(current)
  }
  return samples
}
