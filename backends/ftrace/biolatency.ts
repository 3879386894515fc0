import type {BiolatencyOptions} from '../../src/plan/options.js'
import type {Histogram} from '../../src/result/model.js'
import {addSlots, fromMicroseconds, log2Histogram, log2Slot} from '../../src/result/normalize.js'
import {diskLabel, diskNames} from '../../src/system/disks.js'
import {requestStartEvent} from '../../src/tracefs/block-events.js'
import type {Runner} from '../runner.js'
import {parseBlockRequest} from './block.js'
import {startLatencyHist} from './latency-hist.js'
import {startEventStream} from './stream.js'

// Requests issued but not yet completed that diag remembers; beyond this the oldest are dropped
// (and counted as lost), so a device that never completes cannot grow diag's memory.
const MAX_IN_FLIGHT = 65536

/** biolatency from the start event (issue, or --queued's) and block_rq_complete events, paired in diag. */
export const stream: Runner<BiolatencyOptions> = {
  async start(ctx) {
    const {options} = ctx
    const startEvent = await requestStartEvent(ctx.files, ctx.probe.tracefs!, options.queued)
    const startName = startEvent.slice(startEvent.indexOf('/') + 1)
    const names = await diskNames(ctx.files)
    const inFlight = new Map<string, number>()
    let slots = new Map<string, Map<number, number>>()
    let dropped = 0
    const {pipe, attach} = await startEventStream(
      ctx,
      'biolatency',
      [startEvent, 'block/block_rq_complete'],
      (line) => {
        const request = parseBlockRequest(line.body)
        if (!request) return
        const key = `${request.major}:${request.minor}:${request.sector}`
        if (line.event === startName) {
          if (inFlight.size >= MAX_IN_FLIGHT) {
            inFlight.delete(inFlight.keys().next().value!)
            dropped++
          }
          inFlight.set(key, line.timestamp)
          return
        }
        const started = inFlight.get(key)
        if (started === undefined) return // issued before tracing began
        inFlight.delete(key)
        const us = Math.round((line.timestamp - started) * 1e6)
        const label = options.disks ? diskLabel(names, request.major * 2 ** 20 + request.minor) : ''
        if (!slots.has(label)) slots.set(label, new Map())
        addSlots(slots.get(label)!, log2Slot(fromMicroseconds(us, options.unit)), 1)
      },
      {filterPid: false},
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
