import type {OffcputimeOptions} from './tool.js'
import type {Runner, RunContext} from '../../backends/runner.js'
import {startEventStream} from '../../backends/ftrace/stream.js'
import type {TraceLine} from '../../backends/ftrace/trace-pipe.js'
import type {TracefsSession} from '../../backends/ftrace/tracefs-session.js'
import {type StackTally, stackKey, stacksOf, withoutTracerFrames} from '../../src/symbols/stacks.js'

// Tasks switched out and not yet back: more than this many at once is not a real system's.
const MAX_BLOCKED = 65536

// "prev_comm=a b prev_pid=15696 prev_prio=120 prev_state=S ==> next_comm=dd next_pid=15705 next_prio=120"
// (a comm may hold spaces, so each is taken up to the field after it)
const SWITCH = /prev_comm=(.*) prev_pid=(\d+) .*==> next_comm=.* next_pid=(\d+)/
// "comm=bash pid=15696 child_comm=bash child_pid=15705"
const FORK = /(?:^|\s)pid=(\d+) .*child_pid=(\d+)/
// "comm=rcu_preempt pid=15 prio=120 target_cpu=000" ("success=1" between on old kernels)
const WAKEUP = / pid=(\d+) prio=/
// " => do_nanosleep" (" => do_nanosleep+0x8c/0x140" with the sym-offset option)
const FRAME = /^\s*=> (\S+)/

interface Blocked {
  at: number
  /** When it was woken, for a switch back in that the kernel does not record. */
  wokenAt?: number
  first: string
  /** Kernel frames, innermost first, as the stack trace lists them. */
  frames: string[]
}

/**
 * Pairs each task's switch-out (with the kernel stack recorded after it, in the task switching
 * out) with its next switch-in, and sums the time between by stack. With a target process, only
 * its threads and the children it forks are counted (the kernel's filters also let through the
 * switches of other tasks to and from them, or every switch when the filters grow too long).
 */
export class SwitchPairing {
  private readonly blocked = new Map<number, Blocked>()
  private readonly traced: Set<number> | undefined
  private reading: string[] | undefined
  private tally: StackTally = new Map()
  dropped = 0
  /** Blocks ended at the wakeup, their switch back in not recorded. */
  endedAtWakeup = 0
  /** Called when a traced task forks, with every task traced now. */
  onTraced: ((tasks: number[]) => void) | undefined

  constructor(
    private readonly options: Pick<OffcputimeOptions, 'minBlockUs' | 'perPid'>,
    /** The target's threads; all tasks when undefined. */
    tasks?: number[],
  ) {
    this.traced = tasks === undefined ? undefined : new Set(tasks)
  }

  line(line: TraceLine): void {
    this.reading = undefined
    if (line.event === 'sched_process_fork') {
      const fork = FORK.exec(line.body)
      if (fork && this.traced?.has(Number(fork[1])) && !this.traced.has(Number(fork[2]))) {
        this.traced.add(Number(fork[2]))
        this.onTraced?.([...this.traced])
      }
      return
    }
    if (line.event === 'sched_wakeup') {
      const woken = this.blocked.get(Number(WAKEUP.exec(line.body)?.[1]))
      if (woken) woken.wokenAt ??= line.timestamp
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
      this.add(back, line.timestamp)
    }
    if (prev === 0 || (this.traced && !this.traced.has(prev))) return
    // Switching out while still blocked: it ran, but the kernel did not record its switch in.
    // Some kernels do not record a CPU's switch from its idle task on every CPU (seen on a
    // 6.18 VM's second CPU, in ftrace and perf alike); the wakeup then ends the block, and the
    // wait for a CPU after it goes uncounted. Without a wakeup, the block is lost.
    const missed = this.blocked.get(prev)
    if (missed) {
      this.blocked.delete(prev)
      if (missed.wokenAt === undefined) this.dropped++
      else {
        this.endedAtWakeup++
        this.add(missed, missed.wokenAt)
      }
    }
    if (this.blocked.size >= MAX_BLOCKED && !this.blocked.has(prev)) {
      this.blocked.delete(this.blocked.keys().next().value!)
      this.dropped++
    }
    const first = this.options.perPid ? `${prevComm}-${line.tgid ?? prev}` : prevComm
    this.blocked.set(prev, {at: line.timestamp, first, frames: []})
  }

  private add(block: Blocked, endedAt: number): void {
    const us = (endedAt - block.at) * 1e6
    if (us < this.options.minBlockUs) return
    const frames = stackKey(block.first, [], block.frames.length ? withoutTracerFrames(block.frames) : ['[lost kernel stack]'])
    this.tally.set(frames, (this.tally.get(frames) ?? 0) + us)
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

// The target is picked out by filters on the events' own pid fields, not by the instance's pid
// filter (set_event_pid), which takes only the threads it is given and those made later: a
// process's threads that run already are listed from /proc. A filter longer than the kernel
// takes (a page) is left off, and the pairing alone picks the target's switches out of all.
const MAX_FILTER = 4000
const SWITCH_EVENT = 'sched/sched_switch'
const WAKEUP_EVENT = 'sched/sched_wakeup'
const FORK_EVENT = 'sched/sched_process_fork'

function filtersOf(tasks: number[]): Record<string, string> {
  const either = (fields: string[]) => {
    const text = tasks.flatMap((task) => fields.map((field) => `${field} == ${task}`)).join(' || ')
    return text.length <= MAX_FILTER ? text : '0'
  }
  return {[SWITCH_EVENT]: either(['prev_pid', 'next_pid']), [WAKEUP_EVENT]: either(['pid']), [FORK_EVENT]: either(['parent_pid'])}
}

/** The threads of a process, where /proc lists them; else the process's own id. */
async function threadsOf(ctx: RunContext<unknown>, pid: number): Promise<number[]> {
  const tasks = await ctx.files.list(`/proc/${pid}/task`).catch(() => [])
  const ids = tasks.filter((t) => /^\d+$/.test(t)).map(Number)
  return ids.length ? ids : [pid]
}

/**
 * Keeps the kernel's filters on the tasks traced as the target forks: one write at a time, the
 * latest set winning. A failed write is kept and raised at the next collect.
 */
class TaskFilters {
  private latest: number[] | undefined
  private writing: Promise<void> | undefined
  private failure: unknown
  private ended = false

  constructor(
    private readonly session: TracefsSession,
    private readonly dir: string,
  ) {}

  update(tasks: number[]): void {
    if (this.ended) return
    this.latest = tasks
    this.writing ??= this.flush()
  }

  private async flush(): Promise<void> {
    try {
      while (this.latest && !this.ended) {
        const filters = filtersOf(this.latest)
        this.latest = undefined
        for (const [event, filter] of Object.entries(filters)) await this.session.write(`${this.dir}/events/${event}/filter`, filter)
      }
    } catch (error) {
      this.failure ??= error
    } finally {
      this.writing = undefined
    }
  }

  /** Waits for the write under way; throws what one met. */
  async settle(): Promise<void> {
    await this.writing
    if (this.failure) throw this.failure
  }

  async end(): Promise<void> {
    this.ended = true
    await this.writing
  }
}

/**
 * offcputime from sched_switch events with the kernel stack the instance's stacktrace option
 * records after each, paired in diag. Kernel stacks only: the stacktrace option records the kernel's.
 */
export const stream: Runner<OffcputimeOptions> = {
  async start(ctx) {
    const {options, targetPid} = ctx
    const tasks = targetPid === undefined ? undefined : await threadsOf(ctx, targetPid)
    const pairing = new SwitchPairing(options, tasks)
    const events = [SWITCH_EVENT, WAKEUP_EVENT, ...(tasks === undefined ? [] : [FORK_EVENT])]
    const {session, dir, pipe, attach} = await startEventStream(ctx, 'offcputime', events, (line) => pairing.line(line), {
      filterPid: false,
      excludeSelf: false,
      crossCpuClock: true,
      recordTgid: options.perPid,
      instanceOptions: ['stacktrace'],
      filters: tasks && filtersOf(tasks),
      onOtherLine: (text) => pairing.other(text),
    })
    const filters = new TaskFilters(session, dir)
    pairing.onTraced = (traced) => filters.update(traced)
    return {
      attach: `${attach}, with the kernel stack of each (options/stacktrace; kernel stacks only)`,
      async collect() {
        await pipe.catchUp()
        await filters.settle()
        return stacksOf(pairing.take(), 'usecs')
      },
      async stop() {
        await filters.end()
        await pipe.stop()
      },
      lost: async () => (await pipe.lost()) + pairing.dropped,
    }
  },
}
