import {BackendError} from '../../src/errors.js'
import {spawnOwned} from '../../src/system/child.js'

// perf script run on a data file of perf record (perf-record.ts) and its text parsed, for every
// perf-record runner: profile's samples, and the tracepoint samples the switch pairing reads.

/** One sample of `perf script -F comm,pid,ip,sym` output: its task and its call chain. */
export interface ScriptSample {
  comm: string
  /** The process (thread group) id. */
  pid: number
  /** Innermost first, as perf prints them. */
  frames: {address: bigint; symbol: string}[]
}

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

// "\t    55d5c0b1a1b9 burn_cpu": perf prints user addresses absolute or relative to their file.
const FRAME = /^\s+([0-9a-f]+)(?:\s+(.*?))?\s*$/
// "comm pid": the comm may hold spaces, the pid is the last word.
const HEADER = /^(.*?)\s+(\d+)\s*$/
// "diag-offcpu 11046/11046 [001] 35941.608563232:       sched:sched_switch: prev_comm=diag-offcpu ..."
const TRACE_HEADER = /^\s*(.*?)\s+(\d+)\/(\d+)\s+\[(\d+)\]\s+(\d+\.\d+):\s+[\w-]+:([\w-]+):\s?(.*)$/

/**
 * perf script's text of samples: a header line per sample (the sample `header` makes of it), then
 * its call chain a frame a line (when recorded with -g), then a blank line. Lines of neither
 * shape (warnings) are skipped. `framesFirst`: an indented line is a frame if it has a frame's
 * shape, else tried as a header; otherwise the header is tried first. Each line is matched once
 * or twice, never more (this is the hot path of a large profile).
 */
function parseSamples<Sample extends ScriptSample>(text: string, header: (line: string) => Sample | undefined, framesFirst: boolean): Sample[] {
  const samples: Sample[] = []
  let current: Sample | undefined
  const addFrame = (frame: RegExpExecArray) => {
    // A frame printed without a name is shown, as one perf could not name, never as an empty frame.
    current?.frames.push({address: BigInt(`0x${frame[1]}`), symbol: frame[2] || '[unknown]'})
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      current = undefined
      continue
    }
    const frameAhead = framesFirst && /^\s/.test(line) ? FRAME.exec(line) : null
    if (frameAhead) {
      addFrame(frameAhead)
      continue
    }
    const sample = header(line)
    if (sample) {
      samples.push((current = sample))
      continue
    }
    const frame = framesFirst ? null : FRAME.exec(line)
    if (frame) addFrame(frame)
  }
  return samples
}

/** The samples of `perf script -F comm,pid,ip,sym` text, frames innermost first. */
export function parsePerfScript(text: string): ScriptSample[] {
  // Frames first: "\t    1300", an address without a name, is also "comm pid" in shape.
  return parseSamples(
    text,
    (line) => {
      const header = HEADER.exec(line)
      return header ? {comm: header[1], pid: Number(header[2]), frames: []} : undefined
    },
    true,
  )
}

/** The samples of `perf script -F comm,pid,tid,cpu,time,event,trace,ip,sym --ns` text, frames innermost first. */
export function parsePerfTraceScript(text: string): TraceSample[] {
  // The header first: perf may pad a short comm on the left, and a comm may be hex ("cafe").
  return parseSamples(
    text,
    (line) => {
      const header = TRACE_HEADER.exec(line)
      if (!header) return undefined
      const [, comm, pid, tid, cpu, time, event, body] = header
      return {comm, pid: Number(pid), tid: Number(tid), cpu: Number(cpu), time: Number(time), event, body, frames: []}
    },
    false,
  )
}

/** Kernel addresses on x86-64 and arm64: the upper half of the address space. */
const KERNEL_SPACE = 0xffff800000000000n

/**
 * A call chain's frames, kernel and user apart (told by address), innermost first. Frames at
 * address 0 end a user chain walked past its outermost frame: not frames.
 */
export function callChainFrames(frames: ScriptSample['frames']): {kernel: string[]; user: string[]} {
  const named = frames.filter((f) => f.address !== 0n)
  return {
    kernel: named.filter((f) => f.address >= KERNEL_SPACE).map((f) => f.symbol),
    user: named.filter((f) => f.address < KERNEL_SPACE).map((f) => f.symbol),
  }
}

/** perf script's text of one data file, with these arguments (the fields its parser reads). */
async function perfScript(file: string, args: string[]): Promise<string> {
  const run = await spawnOwned('perf', ['script', '-i', file, ...args], {stdio: ['ignore', 'pipe', 'pipe'], reject: false, maxBuffer: 1 << 30})
  if (run.exitCode !== 0) throw new BackendError(`perf script -i ${file} failed: ${String(run.stderr).trim().split('\n').slice(-2).join('; ')}`)
  return String(run.stdout)
}

/** The samples of one data file with their call chains, perf naming each frame from the maps it recorded and the files' symbols. */
export async function readSamples(file: string): Promise<ScriptSample[]> {
  return parsePerfScript(await perfScript(file, ['-F', 'comm,pid,ip,sym']))
}

/** The tracepoint samples of one data file (recorded with -a, so the CPU is a field), with their call chains where recorded. */
export async function readTraceSamples(file: string): Promise<TraceSample[]> {
  return parsePerfTraceScript(await perfScript(file, ['-F', 'comm,pid,tid,cpu,time,event,trace,ip,sym', '--ns']))
}
