import type {RunContext} from '../../backends/runner.js'
import type {ToolOptions} from '../plan/options.js'
import {stateTextWanted} from '../tracefs/task-state.js'
import {type StackTally, type WakerFrames, offWakeKey, stackKey, withoutTracerFrames} from '../symbols/stacks.js'

// Tasks switched out and not yet back: more than this many at once is not a real system's.
const MAX_BLOCKED = 65536

// The events' bodies as the kernel prints them, the same in the ftrace stream and in perf script:
// "prev_comm=a b prev_pid=15696 prev_prio=120 prev_state=S ==> next_comm=dd next_pid=15705 next_prio=120"
// (a comm may hold spaces, so each is taken up to the field after it)
const SWITCH = /prev_comm=(.*) prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=.* next_pid=(\d+)/
// "comm=bash pid=15696 child_comm=bash child_pid=15705"
const FORK = /(?:^|\s)pid=(\d+) .*child_pid=(\d+)/
// sched_wakeup's and sched_waking's: "comm=rcu_preempt pid=15 prio=120 target_cpu=000" ("success=1" between on old kernels)
const WAKEUP = / pid=(\d+) prio=/

/** Stacks a backend records with an event, innermost first; filled by the backend that reads them. */
export interface EventStacks {
  /** Kernel frames, innermost first. */
  kernel: string[]
  /** User frames, innermost first (perf records them; the ftrace stream cannot). */
  user: string[]
}

/** The task that woke a blocked one, where the wakeup was made (sched_waking): the task running then. */
export interface Waker extends EventStacks {
  first: string
}

/** A task switched out and not yet back. */
export interface Blocked extends EventStacks {
  at: number
  /** When it was woken, for a switch back in that the kernel does not record. */
  wokenAt?: number
  first: string
  /** Its first waker in this block, when wakers are joined. */
  waker?: Waker
}

/** The task running when an event was recorded (the one switching out, or making a wakeup). */
export interface CurrentTask {
  /** As the backend names it: a CPU's idle task is `<idle>` in ftrace, `swapper` in perf. */
  comm: string
  pid: number
  /** Its process, where the backend knows it. */
  tgid?: number
  /** The CPU the event was recorded on. */
  cpu: number
}

/**
 * A task's comm as the kernel names it, the same whichever backend read it: pid 0 is the idle
 * task of the CPU it runs on, which the kernel names `swapper/N` (BPF reads that name; ftrace
 * prints `<idle>`, perf `swapper`). Other tasks keep the comm the backend read.
 */
export function kernelComm(task: CurrentTask): string {
  return task.pid === 0 ? `swapper/${task.cpu}` : task.comm
}

export interface PairingOptions extends ToolOptions {
  /** Blocks shorter than this many microseconds are not counted. */
  minBlockUs: number
  perPid: boolean
  stacks: 'both' | 'kernel' | 'user'
  states?: string[]
}

export interface PairingMode {
  /**
   * Off-wake stacks (offwaketime): each block's stacks joined with those of the task that made its
   * first wakeup (sched_waking, in the waker), `[unknown waker]` where none was seen, as
   * offwaketime's BPF programs join them.
   */
  wakers?: boolean
}

/**
 * Pairs each task's switch-out with its next switch-in and sums the time between by the stacks
 * recorded at the switch-out (and, with wakers, at its first wakeup): the ftrace stream's and
 * perf's, which read the same sched_switch, sched_wakeup or sched_waking, and sched_process_fork
 * events. With a target process, only its threads and the children it forks are counted (the
 * events of other tasks come too: every switch into a target task is another task's event, and
 * any task may wake one). With --state, only switch-outs in one of its states start a block.
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
    private readonly mode: PairingMode = {},
  ) {
    this.traced = tasks === undefined ? undefined : new Set(tasks)
    this.states = options.states && new Set(options.states)
  }

  /**
   * One event, from its name and body text, at `at` seconds, recorded in `current` where the
   * backend knows it. A switch-out that starts a block, or a wakeup that is a block's first when
   * wakers are joined, returns the stacks to fill with those the backend recorded with the event.
   */
  event(name: string, body: string, at: number, current?: CurrentTask): EventStacks | undefined {
    if (name === 'sched_switch') {
      const m = SWITCH.exec(body)
      if (m) return this.switched(at, {comm: m[1], pid: Number(m[2]), state: m[3], tgid: current?.tgid}, Number(m[4]))
    } else if (name === 'sched_wakeup' || name === 'sched_waking') {
      const m = WAKEUP.exec(body)
      if (m) return this.woken(Number(m[1]), at, name === 'sched_waking' ? current : undefined)
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

  /**
   * A wakeup of pid; `waker`, the task making it (sched_waking), becomes the block's waker if it
   * is the block's first wakeup and wakers are joined: later wakeups of the same block are not its.
   */
  woken(pid: number, at: number, waker?: CurrentTask): Waker | undefined {
    const woken = this.blocked.get(pid)
    if (!woken) return undefined
    woken.wokenAt ??= at
    if (!this.mode.wakers || !waker || woken.waker) return undefined
    woken.waker = {first: this.firstFrame(kernelComm(waker), waker.tgid ?? waker.pid), kernel: [], user: []}
    return woken.waker
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
    // pid 0: a CPU going idle, not a task blocking (the BPF programs skip it too)
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
    const block: Blocked = {at, first: this.firstFrame(prev.comm, prev.tgid ?? prev.pid), kernel: [], user: []}
    this.blocked.set(prev.pid, block)
    return block
  }

  private firstFrame(comm: string, tgid: number): string {
    return this.options.perPid ? `${comm}-${tgid}` : comm
  }

  /** Stacks as the options ask for them: a kernel stack wanted and not read is a lost one. */
  private framesOf(recorded: EventStacks): EventStacks {
    const user = this.options.stacks === 'kernel' ? [] : recorded.user
    const kernel = this.options.stacks === 'user' ? [] : recorded.kernel.length ? withoutTracerFrames(recorded.kernel) : ['[lost kernel stack]']
    return {user, kernel}
  }

  private add(block: Blocked, endedAt: number): void {
    const us = (endedAt - block.at) * 1e6
    if (us < this.options.minBlockUs) return
    const {user, kernel} = this.framesOf(block)
    let key: string
    if (this.mode.wakers) {
      const waker: WakerFrames | undefined = block.waker && {first: block.waker.first, ...this.framesOf(block.waker)}
      key = offWakeKey(block.first, user, kernel, waker)
    } else key = stackKey(block.first, user, kernel)
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
