import type {RunqlatOptions} from './tool.js'
import {addSlots, fromMicroseconds, log2Histogram, log2Slot} from '../../src/result/normalize.js'
import type {Runner} from '../../backends/runner.js'
import {startLatencyHist} from '../../backends/ftrace/latency-hist.js'
import type {RawEvent} from '../../backends/ftrace/ring-buffer.js'
import {startRawEventStream} from '../../backends/ftrace/stream.js'
import {readTaskStates} from '../../src/tracefs/task-state.js'

const MAX_QUEUED = 65536

/**
 * Pairs each task's wakeup (or preemption) with the switch that runs it, as the BPF program does,
 * into log2 slots of the wait. A task seen switching out while still waiting was either woken
 * while it ran (no wait: its start is dropped), or ran without its switch in recorded: Linux 6.18
 * on the project's VMs records no switch from the second CPU's idle task, in ftrace and perf
 * alike, though BPF programs on the same tracepoint see it. The two are told apart by the task
 * each CPU's last recorded switch left running: a wait whose end the kernel did not record is
 * counted in `unrecorded`, which the stream reports as lost.
 */
export class WakeupPairing {
  private readonly queued = new Map<number, number>()
  /** The task each CPU's last recorded switch left running. */
  private readonly running = new Map<number, number>()
  private slots = new Map<number, number>()
  /** Waits dropped because the table was full. */
  dropped = 0
  /** Waits ended by a switch in that the kernel did not record. */
  unrecorded = 0

  constructor(private readonly unit: RunqlatOptions['unit']) {}

  /** An event from trace_pipe_raw; `preemptMarker` is sched_switch's "+" bit (see preempt-marker.ts). */
  event(event: RawEvent, preemptMarker: number | undefined): void {
    const {fields} = event
    if (event.event !== 'sched_switch') return this.enqueue(fields.pid as number, event.timestamp)
    const state = fields.prev_state as number
    // Runnable: no state bit below the marker (4.9's raw task state, or 4.14+'s reported one).
    const runnable = (preemptMarker ? state % preemptMarker : state) === 0
    this.switched(event.cpu, fields.prev_pid as number, runnable, fields.next_pid as number, event.timestamp)
  }

  private switched(cpu: number, prev: number, prevRunnable: boolean, next: number, timestamp: number): void {
    // Waiting, yet switching out: a CPU that was running another task ran it unrecorded. Before
    // a CPU's first recorded switch, it may have run since before tracing began.
    const ranUnrecorded = this.running.has(cpu) && this.running.get(cpu) !== prev
    if (this.queued.delete(prev) && ranUnrecorded) this.unrecorded++
    this.running.set(cpu, next)
    // A task switched out while runnable (state R, "R+") was preempted: it waits again.
    if (prevRunnable) this.enqueue(prev, timestamp)
    const since = this.queued.get(next)
    if (since === undefined) return
    this.queued.delete(next)
    addSlots(this.slots, log2Slot(fromMicroseconds(Math.round((timestamp - since) * 1e6), this.unit)), 1)
  }

  private enqueue(pid: number, at: number): void {
    if (pid === 0) return
    if (this.queued.size >= MAX_QUEUED && !this.queued.has(pid)) {
      this.queued.delete(this.queued.keys().next().value!)
      this.dropped++
    }
    this.queued.set(pid, at)
  }

  /** The slots since the last call. */
  take(): Map<number, number> {
    const slots = this.slots
    this.slots = new Map()
    return slots
  }
}

/** runqlat from sched_wakeup(_new) and sched_switch events (trace_pipe_raw, in time order across CPUs), paired in diag as the BPF program does. */
export const stream: Runner<RunqlatOptions> = {
  async start(ctx) {
    const {options} = ctx
    const pairing = new WakeupPairing(options.unit)
    const {marker} = await readTaskStates(ctx.files, ctx.probe.tracefs!)
    const {pipe, attach} = await startRawEventStream(
      ctx,
      'runqlat',
      [
        {event: 'sched/sched_wakeup', fields: ['pid']},
        {event: 'sched/sched_wakeup_new', fields: ['pid']},
        {event: 'sched/sched_switch', fields: ['prev_pid', 'prev_state', 'next_pid']},
      ],
      (event) => pairing.event(event, marker),
      {filterPid: false, excludeSelf: false, crossCpuClock: true},
    )
    return {
      attach,
      async collect() {
        await pipe.catchUp()
        const histogram = log2Histogram(null, pairing.take())
        return {kind: 'histograms', unit: options.unit, labelKey: null, histograms: histogram.count ? [histogram] : []}
      },
      stop: () => pipe.stop(),
      lost: async () => (await pipe.lost()) + pairing.dropped + pairing.unrecorded,
    }
  },
}

/**
 * runqlat in the kernel: sched_wakeup joined to the sched_switch that runs the woken task, as in
 * the kernel's own wakeup-latency example. Unlike the BPF and stream backends it sees only woken
 * tasks, not preempted ones nor new ones (a hist trigger can match one start event).
 */
export const hist: Runner<RunqlatOptions> = {
  async start(ctx) {
    const latency = await startLatencyHist(ctx, {
      purpose: 'runqlat',
      start: {event: 'sched/sched_wakeup', key: 'pid'},
      end: {event: 'sched/sched_switch', key: 'next_pid'},
    })
    return {
      attach: latency.attach,
      async collect() {
        return {kind: 'histograms', unit: ctx.options.unit, labelKey: null, histograms: await latency.read(ctx.options.unit, () => null)}
      },
      lost: async () => latency.dropped(),
    }
  },
}
