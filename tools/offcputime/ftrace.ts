import type {OffcputimeOptions} from './tool.js'
import type {Runner} from '../../backends/runner.js'
import {startEventStream} from '../../backends/ftrace/stream.js'
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
 * offcputime from sched_switch events with the kernel stack the instance's stacktrace option
 * records after each, paired in diag: a task's switch-out (with the stack it blocked in) and its
 * next switch-in. Kernel stacks only: the stacktrace option records the kernel's.
 */
export const stream: Runner<OffcputimeOptions> = {
  async start(ctx) {
    const {options, targetPid} = ctx
    const blocked = new Map<number, Blocked>()
    // With a target, the kernel records switches from or to its tasks: only its own are counted.
    const traced = targetPid === undefined ? undefined : new Set([targetPid])
    let tally: StackTally = new Map()
    let reading: string[] | undefined
    let dropped = 0

    const onLine = (line: {event: string; body: string; pid: number; tgid?: number; timestamp: number}) => {
      reading = undefined
      if (line.event === 'sched_process_fork') {
        const fork = FORK.exec(line.body)
        if (fork && traced?.has(Number(fork[1]))) traced.add(Number(fork[2]))
        return
      }
      if (line.event !== 'sched_switch') {
        // The stack recorded with the switch, in the task switching out.
        if (line.body === '<stack trace>') {
          const entry = blocked.get(line.pid)
          if (entry && entry.frames.length === 0) reading = entry.frames
        }
        return
      }
      const m = SWITCH.exec(line.body)
      if (!m) return
      const [prevComm, prev, next] = [m[1], Number(m[2]), Number(m[3])]
      const back = blocked.get(next)
      if (back) {
        blocked.delete(next)
        const us = (line.timestamp - back.at) * 1e6
        if (us >= options.minBlockUs) {
          const frames = stackFrames(back.first, [], back.frames.length ? withoutTracerFrames(back.frames) : ['[lost kernel stack]'])
          tally.set(frames, (tally.get(frames) ?? 0) + us)
        }
      }
      if (prev === 0 || (traced && !traced.has(prev))) return
      if (blocked.size >= MAX_BLOCKED && !blocked.has(prev)) {
        blocked.delete(blocked.keys().next().value!)
        dropped++
      }
      const first = options.perPid ? `${prevComm}-${line.tgid ?? prev}` : prevComm
      blocked.set(prev, {at: line.timestamp, first, frames: []})
    }
    const onOtherLine = (text: string) => {
      const frame = reading && FRAME.exec(text)
      if (frame) reading!.push(frame[1].replace(/\+0x[0-9a-f]+\/0x[0-9a-f]+$/, ''))
    }

    const events = ['sched/sched_switch', ...(traced ? ['sched/sched_process_fork'] : [])]
    const {pipe, attach} = await startEventStream(ctx, 'offcputime', events, onLine, {
      excludeSelf: false,
      crossCpuClock: true,
      recordTgid: options.perPid,
      instanceOptions: ['stacktrace'],
      onOtherLine,
    })
    return {
      attach: `${attach}, with the kernel stack of each (options/stacktrace; kernel stacks only)`,
      async collect() {
        await pipe.catchUp()
        const data = stacksOf(tally)
        tally = new Map()
        return data
      },
      stop: () => pipe.stop(),
      lost: async () => (await pipe.lost()) + dropped,
    }
  },
}
