import {existsSync} from 'node:fs'

import type {ResultPromise} from 'execa'

import {BackendError} from '../../src/errors.js'
import {isEnding, spawnOwned} from '../../src/system/child.js'
import type {UndoLog} from '../../src/system/undo.js'

/** "<not counted>" means the event never ran in the window: zero, for a counter. */
function perfCount(value: string): number {
  return /^\d+$/.test(value) ? Number(value) : 0
}

/** What perf prints to stderr when its counters are disabled through its control fd. */
const DISABLED_LINE = 'Events disabled'

/**
 * Blocks of `perf stat -x, -I` output: each interval prints one `time,count,unit,event,...` line
 * per event, all with the same time. A block is whole once it has a line for every event.
 */
export class IntervalBlocks {
  private partial = ''
  private block: {time: string; counts: Map<string, number>} | undefined
  /** Waiters for the first whole block after the next "Events disabled" line; armed once it is seen. */
  private afterDisable: {armed: boolean; wake: () => void}[] = []
  /** Counts of the whole blocks not yet taken. */
  private pending = new Map<string, number>()
  blocks = 0
  /** When the last whole block was read (Date.now()), for quiet(). */
  private lastBlockAt = 0

  constructor(private readonly events: number) {}

  push(chunk: string): void {
    const lines = (this.partial + chunk).split('\n')
    this.partial = lines.pop()!
    for (const line of lines) {
      if (line.trim() === DISABLED_LINE) for (const waiter of this.afterDisable) waiter.armed = true
      const [time, value, , event] = line.trim().split(',')
      if (!event || !/^\d+\.\d+$/.test(time)) continue // "Events enabled" and the like
      if (this.block?.time !== time) this.block = {time, counts: new Map()}
      this.block.counts.set(event, perfCount(value))
      if (this.block.counts.size < this.events) continue
      for (const [name, n] of this.block.counts) this.pending.set(name, (this.pending.get(name) ?? 0) + n)
      this.block = undefined
      this.blocks++
      this.lastBlockAt = Date.now()
      for (const waiter of this.afterDisable.filter((w) => w.armed)) waiter.wake()
      this.afterDisable = this.afterDisable.filter((w) => !w.armed)
    }
  }

  /**
   * Resolves at the first whole block perf prints after it says its counters are disabled (or
   * after timeoutMs): that block holds every count up to the disable. perf 6.1 (Debian 12's)
   * prints it at its next tick; a perf that printed it before the line instead (not seen here)
   * would end at the tick after, which adds zeros. The next block alone may be a tick's already
   * under way, without the counts made since.
   */
  nextAfterDisable(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const waiter = {
        armed: false,
        wake: () => {
          clearTimeout(timer)
          resolve()
        },
      }
      const timer = setTimeout(() => {
        this.afterDisable = this.afterDisable.filter((w) => w !== waiter)
        resolve()
      }, timeoutMs)
      this.afterDisable.push(waiter)
    })
  }

  /**
   * Resolves once no whole block has come for quietMs, counted from the call or the last block,
   * whichever is later (or after limitMs): perf following a process that is gone prints one
   * more tick (which may have come already) and then no other.
   */
  quiet(quietMs: number, limitMs: number): Promise<void> {
    const since = Date.now()
    return new Promise((resolve) => {
      const check = () => {
        const now = Date.now()
        const silentFor = now - Math.max(since, this.lastBlockAt)
        if (silentFor >= quietMs || now - since >= limitMs) resolve()
        else setTimeout(check, quietMs - silentFor)
      }
      setTimeout(check, quietMs)
    })
  }

  take(): Map<string, number> {
    const taken = this.pending
    this.pending = new Map()
    return taken
  }
}

/** How long a SIGKILLed perf may take to enter its exit: it is only waiting for the scheduler. */
const ENDING_TIMEOUT_MS = 5000

/**
 * Kills perf and resolves once the kernel has it in its exit, without waiting for the exit to
 * finish (closing hundreds of tracepoint counters: seconds). diag then holds no handle on it.
 */
async function endPerf(perf: PerfProcess): Promise<void> {
  const pid = perf.pid
  if (pid !== undefined && perf.exitCode === null && perf.signalCode === null) {
    perf.kill('SIGKILL')
    const deadline = Date.now() + ENDING_TIMEOUT_MS
    while (!isEnding(pid)) {
      if (Date.now() > deadline) throw new BackendError(`perf stat (pid ${pid}) did not end after SIGKILL`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
  for (const stream of [perf.stderr, perf.stdio[3], perf.stdio[4]]) (stream as NodeJS.ReadableStream & {destroy(): void} | null)?.destroy()
  perf.unref()
}

type PerfProcess = ResultPromise<{stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe']; reject: false}>

/**
 * One long-running `perf stat -I`: it opens its counters disabled (-D -1), diag enables them
 * through perf's control fd and waits for the ack, so that counting (and a traced command) starts
 * only once everything is open. perf prints every counter each tick; collect() takes the ticks
 * printed so far, and finish() disables the counters and waits for the tick that prints the rest.
 *
 * Closing the counters is slow and cannot be hurried: for each syscall tracepoint the kernel waits
 * an RCU grace period, one after the other under its event_mutex (about 14 s for the ~360
 * sys_enter_* tracepoints on the 2-core development VM, whether one perf closes them or several).
 * So diag does not wait for it: once the last counts are read, the undo step kills perf and waits
 * only until the kernel has it in its exit (it counts and runs nothing more; see isEnding), then
 * lets go of it so that diag's own exit is not held up. The kernel closes the counters as perf
 * exits, after diag has printed its result and gone; perf is then reaped by init.
 */
export class PerfStat {
  private constructor(
    private readonly perf: PerfProcess,
    private readonly blocks: IntervalBlocks,
    private readonly target: {pid?: number},
    private readonly tickMs: number,
    /** Kills perf (once) and resolves when it is in the kernel's exit. */
    private readonly end: () => Promise<void>,
  ) {}

  static async start(events: string[], target: {pid?: number}, tickMs: number, undo: UndoLog): Promise<PerfStat> {
    const args = ['stat', '-x', ',', '-I', String(tickMs), '-e', events.join(','), '-D', '-1', '--control', 'fd:3,4']
    args.push(...(target.pid === undefined ? ['-a'] : ['-p', String(target.pid)]))
    const perf: PerfProcess = spawnOwned('perf', args, {stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], reject: false})
    let ending: Promise<void> | undefined
    const end = () => (ending ??= endPerf(perf))
    undo.push('end perf stat (the kernel then closes its counters without diag waiting: a grace period each)', end)
    const blocks = new IntervalBlocks(events.length)
    let errors = ''
    perf.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString()
      blocks.push(text)
      if (blocks.blocks === 0) errors += text
    })
    const acked = new Promise<void>((resolve, reject) => {
      let answer = ''
      perf.stdio[4].on('data', (chunk: Buffer) => {
        answer += chunk
        if (answer.includes('ack')) resolve()
      })
      void perf.then(() => reject(new BackendError(`perf stat exited before counting: ${errors.trim().split('\n').slice(-3).join('; ')}`)))
    })
    ;(perf.stdio[3] as unknown as NodeJS.WritableStream).write('enable\n')
    await acked
    return new PerfStat(perf, blocks, target, tickMs, end)
  }

  /** The counts of the ticks perf has printed since the previous call. */
  collect(): Map<string, number> {
    return this.blocks.take()
  }

  /**
   * Stops counting and reads the last counts, then kills perf at once: it does no more work of its
   * own, and only the kernel's closing of its counters remains (in its exit, see endPerf).
   *
   * - Following a process (-p) that is gone from /proc (exited and reaped, not diag's child): perf
   *   prints one more tick, holding everything up to the exit, then sees it gone and prints no
   *   other; a disable would make it print none. So the wait is for perf to fall quiet.
   * - Otherwise (system-wide, or a traced command the gate keeps unreaped, which perf still sees):
   *   the counters are disabled, and perf prints what they counted at its next tick (see
   *   nextAfterDisable).
   *
   * Either waits about a tick, or until perf exits; the limit, two ticks and 2 s, is only reached
   * when perf is starved or mute.
   */
  async finish(): Promise<void> {
    if (this.perf.exitCode !== undefined && this.perf.exitCode !== null) return
    const limitMs = 2 * this.tickMs + 2000
    const exited = this.perf.then(() => undefined)
    if (this.target.pid !== undefined && !existsSync(`/proc/${this.target.pid}`)) {
      await Promise.race([this.blocks.quiet(this.tickMs + 250, limitMs), exited])
    } else {
      const next = this.blocks.nextAfterDisable(limitMs)
      const control = this.perf.stdio[3] as unknown as NodeJS.WritableStream & {destroyed?: boolean}
      if (!control.destroyed) control.write('disable\n', () => {})
      await Promise.race([next, exited])
    }
    await this.end()
  }
}
