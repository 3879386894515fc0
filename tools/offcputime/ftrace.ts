import type {OffcputimeOptions} from './tool.js'
import type {Runner} from '../../backends/runner.js'
import {startEventStream} from '../../backends/ftrace/stream.js'
import type {TraceLine} from '../../backends/ftrace/trace-pipe.js'
import {stacksOf} from './bpf.js'
import {type StackTally, stackFrames, withoutTracerFrames} from './stacks.js'

// Tasks switched out and not yet back: more than this many at once is not a real system's.
const MAX_BLOCKED = 65536

// "prev_comm=a b prev_pid=15696 prev_prio=120 prev_state=S ==> next_comm=dd next_pid=15705 next_prio=120"
// (a comm may hold spaces, so each is taken up to the field after it)
const SWITCH = /prev_comm=(.*) prev_pid=(\d+) .*==> next_comm=.* next_pid=(\d+)/
// "comm=bash pid=15696 child_comm=bash child_pid=15705"
const FORK = /(?:^|\s)pid=(\d+) .*child_pid=(\d+)/
// " => do_nanosleep" (" => do_nanosleep+0x8c/0x140" with the sym-offset option)
const FRAME = /^\s*=> (\S+)/

interface Blocked {
  at: number
  first: string
  /** Kernel frames, innermost first, as the stack trace lists them. */
  frames: string[]
}

/**
 * Pairs each task's switch-out (with the kernel stack recorded after it, in the task switching
 * out) with its next switch-in, and sums the time between by stack. With a target process, only
 * it and the children it forks are counted (the kernel's pid filter also lets through the
 * switches of other tasks to and from it).
 */
export class SwitchPairing {
  private readonly blocked = new Map<number, Blocked>()
  private readonly traced: Set<number> | undefined
  private reading: string[] | undefined
  private tally: StackTally = new Map()
  dropped = 0

  constructor(
    private readonly options: Pick<OffcputimeOptions, 'minBlockUs' | 'perPid'>,
    targetPid?: number,
  ) {
    this.traced = targetPid === undefined ? undefined : new Set([targetPid])
  }

  line(line: TraceLine): void {
    this.reading = undefined
    if (line.event === 'sched_process_fork') {
      const fork = FORK.exec(line.body)
      if (fork && this.traced?.has(Number(fork[1]))) this.traced.add(Number(fork[2]))
      return
    }
    if (line.event !== 'sched_switch') {
      // The stack recorded with the switch, in the task switching out.
      const entry = line.body === '<stack trace>' ? this.blocked.get(line.pid) : undefined
      if (entry && entry.frames.length === 0) this.reading = entry.frames
      return
    }
    const m = SWITCH.exec(line.body)
    if (!m) return
    const [prevComm, prev, next] = [m[1], Number(m[2]), Number(m[3])]
    const back = this.blocked.get(next)
    if (back) {
      this.blocked.delete(next)
      const us = (line.timestamp - back.at) * 1e6
      if (us >= this.options.minBlockUs) {
        const frames = stackFrames(back.first, [], back.frames.length ? withoutTracerFrames(back.frames) : ['[lost kernel stack]'])
        this.tally.set(frames, (this.tally.get(frames) ?? 0) + us)
      }
    }
    if (prev === 0 || (this.traced && !this.traced.has(prev))) return
    if (this.blocked.size >= MAX_BLOCKED && !this.blocked.has(prev)) {
      this.blocked.delete(this.blocked.keys().next().value!)
      this.dropped++
    }
    const first = this.options.perPid ? `${prevComm}-${line.tgid ?? prev}` : prevComm
    this.blocked.set(prev, {at: line.timestamp, first, frames: []})
  }

  /** A line that is not an event's first: a frame of the stack being read. */
  other(text: string): void {
    const frame = this.reading && FRAME.exec(text)
    if (frame) this.reading!.push(frame[1].replace(/\+0x[0-9a-f]+\/0x[0-9a-f]+$/, ''))
  }

  /** The time blocked by stack since the last call, in microseconds. */
  take(): StackTally {
    const tally = this.tally
    this.tally = new Map()
    return tally
  }
}

/**
 * offcputime from sched_switch events with the kernel stack the instance's stacktrace option
 * records after each, paired in diag. Kernel stacks only: the stacktrace option records the kernel's.
 */
export const stream: Runner<OffcputimeOptions> = {
  async start(ctx) {
    const {options, targetPid} = ctx
    const pairing = new SwitchPairing(options, targetPid)
    const events = ['sched/sched_switch', ...(targetPid === undefined ? [] : ['sched/sched_process_fork'])]
    const {pipe, attach} = await startEventStream(ctx, 'offcputime', events, (line) => pairing.line(line), {
      excludeSelf: false,
      crossCpuClock: true,
      recordTgid: options.perPid,
      instanceOptions: ['stacktrace'],
      onOtherLine: (text) => pairing.other(text),
    })
    return {
      attach: `${attach}, with the kernel stack of each (options/stacktrace; kernel stacks only)`,
      async collect() {
        await pipe.catchUp()
        return stacksOf(pairing.take())
      },
      stop: () => pipe.stop(),
      lost: async () => (await pipe.lost()) + pairing.dropped,
    }
  },
}
