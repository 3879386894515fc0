import type {BiolatencyOptions} from './tool.js'
import type {Histogram} from '../../src/result/model.js'
import {addSlots, fromMicroseconds, log2Histogram, log2Slot} from '../../src/result/normalize.js'
import {diskLabel, diskNames} from '../../src/system/disks.js'
import {requestStartEvent} from '../../src/tracefs/block-events.js'
import type {Runner} from '../../backends/runner.js'
import {startLatencyHist} from '../../backends/ftrace/latency-hist.js'
import {startRawEventStream} from '../../backends/ftrace/stream.js'

// Requests issued but not yet completed that diag remembers; beyond this the oldest are dropped
// (and counted as lost), so a device that never completes cannot grow diag's memory.
const MAX_IN_FLIGHT = 65536

/** biolatency from the start event (issue, or --queued's) and block_rq_complete events (trace_pipe_raw, in time order across CPUs), paired in diag. */
export const stream: Runner<BiolatencyOptions> = {
  async start(ctx) {
    const {options} = ctx
    const startEvent = await requestStartEvent(ctx.files, ctx.probe.tracefs!, options.queued)
    const startName = startEvent.slice(startEvent.indexOf('/') + 1)
    const names = await diskNames(ctx.files)
    // Requests by (device, sector), oldest first: two requests for the same sector may be in
    // flight at once (a write, and a read of it from udev's blkid, say), and each completion pairs
    // with the oldest issue of its key.
    const inFlight = new Map<string, number[]>()
    // Completions read before their issue: the reader merges the CPUs' buffers by time, but an
    // event still being written on one CPU can come out after a later one from another.
    const early = new Map<string, number[]>()
    let slots = new Map<string, Map<number, number>>()
    let dropped = 0
    const count = (request: {major: number; minor: number}, us: number) => {
      const label = options.disks ? diskLabel(names, request.major * 2 ** 20 + request.minor) : ''
      if (!slots.has(label)) slots.set(label, new Map())
      addSlots(slots.get(label)!, log2Slot(fromMicroseconds(us, options.unit)), 1)
    }
    const remember = (map: Map<string, number[]>, key: string, timestamp: number) => {
      const queue = map.get(key)
      if (queue) return void queue.push(timestamp)
      if (map.size >= MAX_IN_FLIGHT) {
        dropped += map.get(map.keys().next().value!)!.length
        map.delete(map.keys().next().value!)
      }
      map.set(key, [timestamp])
    }
    const take = (map: Map<string, number[]>, key: string): number | undefined => {
      const queue = map.get(key)
      const oldest = queue?.shift()
      if (queue?.length === 0) map.delete(key)
      return oldest
    }
    const {pipe, attach} = await startRawEventStream(
      ctx,
      'biolatency',
      [
        {event: startEvent, fields: ['dev', 'sector']},
        {event: 'block/block_rq_complete', fields: ['dev', 'sector']},
      ],
      (event) => {
        // dev is the kernel's dev_t: major << 20 | minor, as the events' print formats split it.
        const dev = event.fields.dev as number
        const request = {major: Math.floor(dev / 2 ** 20), minor: dev % 2 ** 20}
        const key = `${dev}:${event.fields.sector}`
        if (event.event === startName) {
          const completed = early.get(key)?.[0]
          if (completed !== undefined && completed >= event.timestamp) {
            take(early, key)
            count(request, Math.round((completed - event.timestamp) * 1e6))
          } else remember(inFlight, key, event.timestamp)
          return
        }
        const started = take(inFlight, key)
        // Issued before tracing began, or read ahead of its issue (kept until the issue comes).
        if (started === undefined) return remember(early, key, event.timestamp)
        count(request, Math.round((event.timestamp - started) * 1e6))
      },
      {filterPid: false, excludeSelf: false, crossCpuClock: true},
    )
    return {
      attach,
      async collect() {
        await pipe.catchUp()
        const histograms: Histogram[] = [...slots]
          .map(([label, s]) => log2Histogram(options.disks ? label : null, s))
          .sort((a, b) => (a.label ?? '').localeCompare(b.label ?? ''))
        slots = new Map()
        return {kind: 'histograms', unit: options.unit, labelKey: options.disks ? 'disk' : null, histograms}
      },
      stop: () => pipe.stop(),
      lost: async () => (await pipe.lost()) + dropped,
    }
  },
}

/** biolatency in the kernel: issue and completion joined on (dev, sector) by hist triggers. */
export const hist: Runner<BiolatencyOptions> = {
  async start(ctx) {
    const {options} = ctx
    const startEvent = await requestStartEvent(ctx.files, ctx.probe.tracefs!, options.queued)
    const names = await diskNames(ctx.files)
    const latency = await startLatencyHist(ctx, {
      purpose: 'biolatency',
      start: {event: startEvent, key: 'dev,sector'},
      end: {event: 'block/block_rq_complete', key: 'dev,sector'},
      label: options.disks ? {field: 'dev', type: 'u32'} : undefined,
    })
    return {
      attach: latency.attach,
      async collect() {
        const histograms = await latency.read(options.unit, (dev) => (options.disks ? diskLabel(names, dev) : null))
        return {kind: 'histograms', unit: options.unit, labelKey: options.disks ? 'disk' : null, histograms}
      },
      lost: async () => latency.dropped(),
    }
  },
}
