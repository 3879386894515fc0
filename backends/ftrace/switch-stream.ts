import type {Runner} from '../runner.js'
import {startEventStream} from './stream.js'
import type {TraceLine} from './trace-pipe.js'
import type {TracefsSession} from './tracefs-session.js'
import {type EventStacks, type PairingMode, type PairingOptions, SwitchPairing, threadsOf} from '../../src/sched/switch-pairing.js'
import {stacksOf} from '../../src/symbols/stacks.js'
import {type ThreadInfo, ThreadNames} from '../../src/system/threads.js'
import {readTaskStates, stateFilter} from '../../src/tracefs/task-state.js'

// " => do_nanosleep" (" => do_nanosleep+0x8c/0x140" with the sym-offset option)
const FRAME = /^\s*=> (\S+)/

/**
 * The ftrace stream's lines into the pairing (src/sched/switch-pairing.ts): each event line, and
 * the kernel stack the stacktrace option records after an event, in the task running then (the
 * one switching out, or the waker), a frame a line. The stack follows its event in the same
 * CPU's buffer, but other CPUs' lines may come between: it is matched to its event by CPU.
 * A line's task that ftrace could not name ("<...>": not in its comm cache) is named from /proc,
 * as the BPF backends name it from the kernel; the switched-out task is named by the event itself.
 */
export class StackTraceLines {
  readonly pairing: SwitchPairing
  /** By CPU, the stacks of its last event, while its stack trace has not come. */
  private readonly awaiting = new Map<number, EventStacks>()
  private reading: string[] | undefined

  constructor(
    options: PairingOptions,
    tasks?: number[],
    mode: PairingMode = {},
    private readonly names: Pick<ThreadInfo, 'nameOf'> = new ThreadNames(),
  ) {
    this.pairing = new SwitchPairing(options, tasks, mode)
  }

  line(line: TraceLine): void {
    this.reading = undefined
    if (line.body === '<stack trace>') {
      const stacks = this.awaiting.get(line.cpu)
      this.awaiting.delete(line.cpu)
      if (stacks && stacks.kernel.length === 0) this.reading = stacks.kernel
      return
    }
    const comm = line.comm === '<...>' ? this.names.nameOf(line.pid) : line.comm
    const stacks = this.pairing.event(line.event, line.body, line.timestamp, {comm, pid: line.pid, tgid: line.tgid, cpu: line.cpu})
    if (stacks) this.awaiting.set(line.cpu, stacks)
    else this.awaiting.delete(line.cpu)
  }

  /** A line that is not an event's first: a frame of the stack being read. */
  other(text: string): void {
    const frame = this.reading && FRAME.exec(text)
    if (frame) this.reading!.push(frame[1].replace(/\+0x[0-9a-f]+\/0x[0-9a-f]+$/, ''))
  }
}

// The target is picked out by filters on the events' own pid fields, not by the instance's pid
// filter (set_event_pid), which takes only the threads it is given and those made later: a
// process's threads that run already are listed from /proc. A filter longer than the kernel
// takes (a page) is left off, and the pairing alone picks the target's switches out of all.
// Forks are not filtered: the filters follow a fork only once diag has read it, and a child that
// forks before then (timeout starting its command) would make a grandchild no filter ever let
// through. Every fork is read, few as they are, and the pairing follows them in order.
const MAX_FILTER = 4000
const SWITCH_EVENT = 'sched/sched_switch'
const WAKEUP_EVENT = 'sched/sched_wakeup'
const WAKING_EVENT = 'sched/sched_waking'
const FORK_EVENT = 'sched/sched_process_fork'

function filtersOf(tasks: number[], wakeup: string): Record<string, string> {
  const either = (fields: string[]) => {
    const text = tasks.flatMap((task) => fields.map((field) => `${field} == ${task}`)).join(' || ')
    return text.length <= MAX_FILTER ? text : '0'
  }
  return {[SWITCH_EVENT]: either(['prev_pid', 'next_pid']), [wakeup]: either(['pid'])}
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
    private readonly wakeup: string,
  ) {}

  update(tasks: number[]): void {
    if (this.ended) return
    this.latest = tasks
    this.writing ??= this.flush()
  }

  private async flush(): Promise<void> {
    try {
      while (this.latest && !this.ended) {
        const filters = filtersOf(this.latest, this.wakeup)
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
 * A blocked-time tool (offcputime; offwaketime with wakers) from sched_switch events with the
 * kernel stack the instance's stacktrace option records after each, and the wakeups, paired in
 * diag. Kernel stacks only: the stacktrace option records the kernel's. With wakers, the wakeups
 * are sched_waking, recorded in the waker, so that the stack after each is the waker's.
 */
export function switchStream<Options extends PairingOptions>(tool: string, mode: PairingMode = {}): Runner<Options> {
  return {
    async start(ctx) {
      const {options, targetPid} = ctx
      if (options.states) stateFilter(await readTaskStates(ctx.files, ctx.probe.tracefs!), options.states)
      const tasks = targetPid === undefined ? undefined : await threadsOf(ctx, targetPid)
      // Forgotten each interval, as ThreadNames asks: a pid reused, an exec's new name.
      const names = new ThreadNames()
      const lines = new StackTraceLines(options, tasks, mode, names)
      const {pairing} = lines
      const wakeup = mode.wakers ? WAKING_EVENT : WAKEUP_EVENT
      const events = [SWITCH_EVENT, wakeup, ...(tasks === undefined ? [] : [FORK_EVENT])]
      const {session, dir, pipe, attach} = await startEventStream(ctx, tool, events, (line) => lines.line(line), {
        filterPid: false,
        excludeSelf: false,
        crossCpuClock: true,
        recordTgid: options.perPid,
        instanceOptions: ['stacktrace'],
        filters: tasks && filtersOf(tasks, wakeup),
        onOtherLine: (text) => lines.other(text),
      })
      const filters = new TaskFilters(session, dir, wakeup)
      pairing.onTraced = (traced) => filters.update(traced)
      return {
        attach: `${attach}, with the kernel stack of each (options/stacktrace; kernel stacks only)`,
        async collect() {
          await pipe.catchUp()
          await filters.settle()
          names.forget()
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
}
