import type {OffcputimeOptions} from './tool.js'
import type {RunContext} from '../../backends/runner.js'
import {stateTextWanted} from '../../src/tracefs/task-state.js'
import {type StackTally, stackKey, withoutTracerFrames} from '../../src/symbols/stacks.js'

// Tasks switched out and not yet back: more than this many at once is not a real system's.
const MAX_BLOCKED = 65536

// The events' bodies as the kernel prints them, the same in the ftrace stream and in perf script:
// "prev_comm=a b prev_pid=15696 prev_prio=120 prev_state=S ==> next_comm=dd next_pid=15705 next_prio=120"
// (a comm may hold spaces, so each is taken up to the field after it)
const SWITCH = /prev_comm=(.*) prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=.* next_pid=(\d+)/
// "comm=bash pid=15696 child_comm=bash child_pid=15705"
const FORK = /(?:^|\s)pid=(\d+) .*child_pid=(\d+)/
// "comm=rcu_preempt pid=15 prio=120 target_cpu=000" ("success=1" between on old kernels)
const WAKEUP = / pid=(\d+) prio=/

/** A task switched out and not yet back. Its stacks are filled by the backend that reads them. */
export interface Blocked {
  at: number
  /** When it was woken, for a switch back in that the kernel does not record. */
  wokenAt?: number
  first: string
  /** Kernel frames, innermost first. */
  kernel: string[]
  /** User frames, innermost first (perf records them; the ftrace stream cannot). */
  user: string[]
}

export type PairingOptions = Pick<OffcputimeOptions, 'minBlockUs' | 'perPid' | 'stacks' | 'states'>

/**
 * Pairs each task's switch-out with its next switch-in and sums the time between by the stacks
 * recorded at the switch-out: the ftrace stream's and perf's, which read the same sched_switch,
 * sched_wakeup and sched_process_fork events. With a target process, only its threads and the
 * children it forks are counted (the events of other tasks come too: every switch into a target
 * task is another task's event). With --state, only switch-outs in one of its states start a block.
 */
export class SwitchPairing {
  private readonly blocked = new Map<number, Blocked>()
  private readonly traced: Set<number> | undefined
  private readonly states: Set<string> | undefined
  private tally: StackTally = new Map()
  dropped = 0
  /** Blocks ended at the wakeup, their switch back in not recorded. */
  endedAtWakeup = 0
  /** Called when a traced task forks, with every task traced now. */
  onTraced: ((tasks: number[]) => void) | undefined

  constructor(
    private readonly options: PairingOptions,
    /** The target's threads; all tasks when undefined. */
    tasks?: number[],
  ) {
    this.traced = tasks === undefined ? undefined : new Set(tasks)
    this.states = options.states && new Set(options.states)
  }

  /**
   * One event, from its name and body text, at `at` seconds; `tgid` is the process of the task
   * switching out, where the backend knows it. A switch-out that starts a block returns it, for
   * the stacks the backend reads with it.
   */
  event(name: string, body: string, at: number, tgid?: number): Blocked | undefined {
    if (name === 'sched_switch') {
      const m = SWITCH.exec(body)
      if (m) return this.switched(at, {comm: m[1], pid: Number(m[2]), state: m[3], tgid}, Number(m[4]))
    } else if (name === 'sched_wakeup') {
      const m = WAKEUP.exec(body)
      if (m) this.woken(Number(m[1]), at)
    } else if (name === 'sched_process_fork') {
      const m = FORK.exec(body)
      if (m) this.forked(Number(m[1]), Number(m[2]))
    }
    return undefined
  }

  forked(parent: number, child: number): void {
    if (this.traced?.has(parent) && !this.traced.has(child)) {
      this.traced.add(child)
      this.onTraced?.([...this.traced])
    }
  }

  woken(pid: number, at: number): void {
    const woken = this.blocked.get(pid)
    if (woken) woken.wokenAt ??= at
  }

  /** The block a task is in, if it is in one. */
  blockOf(pid: number): Blocked | undefined {
    return this.blocked.get(pid)
  }

  switched(at: number, prev: {comm: string; pid: number; state: string; tgid?: number}, next: number): Blocked | undefined {
    const back = this.blocked.get(next)
    if (back) {
      this.blocked.delete(next)
      this.add(back, at)
    }
    if (prev.pid === 0 || (this.traced && !this.traced.has(prev.pid))) return undefined
    // Switching out while still blocked: it ran, but the kernel did not record its switch in.
    // Some kernels do not record a CPU's switch from its idle task on every CPU (seen on a
    // 6.18 VM's second CPU, in ftrace and perf alike); the wakeup then ends the block, and the
    // wait for a CPU after it goes uncounted. Without a wakeup, the block is lost.
    const missed = this.blocked.get(prev.pid)
    if (missed) {
      this.blocked.delete(prev.pid)
      if (missed.wokenAt === undefined) this.dropped++
      else {
        this.endedAtWakeup++
        this.add(missed, missed.wokenAt)
      }
    }
    if (this.states && !stateTextWanted(prev.state, this.states)) return undefined
    if (this.blocked.size >= MAX_BLOCKED) {
      this.blocked.delete(this.blocked.keys().next().value!)
      this.dropped++
    }
    const first = this.options.perPid ? `${prev.comm}-${prev.tgid ?? prev.pid}` : prev.comm
    const block: Blocked = {at, first, kernel: [], user: []}
    this.blocked.set(prev.pid, block)
    return block
  }

  private add(block: Blocked, endedAt: number): void {
    const us = (endedAt - block.at) * 1e6
    if (us < this.options.minBlockUs) return
    const user = this.options.stacks === 'kernel' ? [] : block.user
    const kernel = this.options.stacks === 'user' ? [] : block.kernel.length ? withoutTracerFrames(block.kernel) : ['[lost kernel stack]']
    const key = stackKey(block.first, user, kernel)
    this.tally.set(key, (this.tally.get(key) ?? 0) + us)
  }

  /** The time blocked by stack since the last call, in microseconds. */
  take(): StackTally {
    const tally = this.tally
    this.tally = new Map()
    return tally
  }
}

/** The threads of a process, where /proc lists them; else the process's own id. */
export async function threadsOf(ctx: RunContext<unknown>, pid: number): Promise<number[]> {
  const tasks = await ctx.files.list(`/proc/${pid}/task`).catch(() => [])
  const ids = tasks.filter((t) => /^\d+$/.test(t)).map(Number)
  return ids.length ? ids : [pid]
}
