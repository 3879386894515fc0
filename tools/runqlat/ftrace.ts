import type {RunqlatOptions} from './tool.js'
import {addSlots, fromMicroseconds, log2Histogram, log2Slot} from '../../src/result/normalize.js'
import type {Runner} from '../../backends/runner.js'
import {startLatencyHist} from '../../backends/ftrace/latency-hist.js'
import {startEventStream} from '../../backends/ftrace/stream.js'

const MAX_QUEUED = 65536

// "comm=bash pid=15696 prio=120 target_cpu=001" and
// "prev_comm=bash prev_pid=15696 prev_prio=120 prev_state=S ==> next_comm=dd next_pid=15705 next_prio=120"
const field = (body: string, name: string) => new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(body)?.[1]

/** runqlat from sched_wakeup(_new) and sched_switch events, paired in diag as the BPF program does. */
export const stream: Runner<RunqlatOptions> = {
  async start(ctx) {
    const {options} = ctx
    const queued = new Map<string, number>()
    let slots = new Map<number, number>()
    let dropped = 0
    const enqueue = (pid: string | undefined, at: number) => {
      if (!pid || pid === '0') return
      if (queued.size >= MAX_QUEUED && !queued.has(pid)) {
        queued.delete(queued.keys().next().value!)
        dropped++
      }
      queued.set(pid, at)
    }
    const {pipe, attach} = await startEventStream(
      ctx,
      'runqlat',
      ['sched/sched_wakeup', 'sched/sched_wakeup_new', 'sched/sched_switch'],
      (line) => {
        if (line.event !== 'sched_switch') return enqueue(field(line.body, 'pid'), line.timestamp)
        // A task switched out while runnable (state R, "R+") was preempted: it waits again.
        if (field(line.body, 'prev_state')?.startsWith('R')) enqueue(field(line.body, 'prev_pid'), line.timestamp)
        const next = field(line.body, 'next_pid')
        const since = next === undefined ? undefined : queued.get(next)
        if (since === undefined) return
        queued.delete(next!)
        const us = Math.round((line.timestamp - since) * 1e6)
        addSlots(slots, log2Slot(fromMicroseconds(us, options.unit)), 1)
      },
      {filterPid: false, excludeSelf: false, crossCpuClock: true},
    )
    return {
      attach,
      async collect() {
        await pipe.catchUp()
        const histogram = log2Histogram(null, slots)
        slots = new Map()
        return {kind: 'histograms', unit: options.unit, labelKey: null, histograms: histogram.count ? [histogram] : []}
      },
      stop: () => pipe.stop(),
      lost: async () => (await pipe.lost()) + dropped,
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
