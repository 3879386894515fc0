import type {TimeUnit} from '../../src/result/model.js'
import {Deltas} from '../../src/result/deltas.js'
import type {Histogram} from '../../src/result/model.js'
import {fromMicroseconds, log2Histogram, log2Slot} from '../../src/result/normalize.js'
import type {RunContext} from '../runner.js'
import {parseHist} from './hist.js'
import {TracefsSession} from './tracefs-session.js'

/**
 * A latency measured in the kernel by hist triggers: a start event saves a timestamp per key, an
 * end event with the same key computes the difference and fires a pid-named synthetic event with
 * it, and a hist trigger on that synthetic event counts each latency (in µs) by value. diag turns
 * those values into log2 slots itself, so that the slots are the same as every other backend's
 * (the kernel's .log2 rounds up, not down).
 */
export interface LatencyPairing {
  purpose: string
  start: {event: string; key: string}
  end: {event: string; key: string}
  /** Extra fields carried to the synthetic event and used as a histogram label: "dev". */
  label?: {field: string; type: string}
}

export interface LatencyHist {
  attach: string
  read(unit: Extract<TimeUnit, 'usecs' | 'msecs'>, labelName: (label: number) => string | null): Promise<Histogram[]>
  /** Events every table of the pairing refused when full (their `Dropped:` lines). */
  dropped(): Promise<number>
}

// Keys the start and end tables hold: a hist trigger never frees an entry, so this many distinct
// keys ((device, sector) pairs, or woken pids) in one run at most; later new keys are refused and
// counted in lost. The kernel's default is 2048; it allocates every entry when the trigger is
// added (a few hundred bytes each), so 2^16 keys cost some tens of MB per table while diag runs.
export const PAIRING_KEYS = 65536
// Distinct (label, latency in µs) values the synthetic event's table holds.
const LATENCY_VALUES = 16384

export async function startLatencyHist(ctx: RunContext<unknown>, pairing: LatencyPairing): Promise<LatencyHist> {
  const session = new TracefsSession(ctx.files, ctx.probe.tracefs!, ctx.pid, ctx.undo)
  const dir = await session.instance(pairing.purpose)
  const label = pairing.label
  const synthetic = await session.syntheticEvent(pairing.purpose, label ? `${label.type} ${label.field}; u64 lat` : 'u64 lat')
  const [startSystem, startName] = pairing.start.event.split('/')
  await session.addTrigger(dir, pairing.start.event, `hist:keys=${pairing.start.key}:ts0=common_timestamp.usecs:size=${PAIRING_KEYS}`)
  const args = label ? `${label.field},$lat` : '$lat'
  await session.addTrigger(
    dir,
    pairing.end.event,
    `hist:keys=${pairing.end.key}:lat=common_timestamp.usecs-$ts0:size=${PAIRING_KEYS}:onmatch(${startSystem}.${startName}).${synthetic}(${args})`,
  )
  const keys = label ? `${label.field},lat` : 'lat'
  const histTrigger = `hist:keys=${keys}:vals=hitcount:sort=lat:size=${LATENCY_VALUES}`
  await session.addTrigger(dir, `synthetic/${synthetic}`, histTrigger)

  const deltas = new Deltas()
  const tables = [pairing.start.event, pairing.end.event, `synthetic/${synthetic}`].map((event) => `${dir}/events/${event}/hist`)
  return {
    attach: `synthetic event ${synthetic} from ${pairing.start.event} to ${pairing.end.event}, ${histTrigger}, in ${dir}`,
    async dropped() {
      let dropped = 0
      for (const table of new Set(tables)) dropped += parseHist(await session.read(table)).dropped
      return dropped
    },
    async read(unit, labelName) {
      const table = parseHist(await session.read(`${dir}/events/synthetic/${synthetic}/hist`))
      const current = new Map<string, number>()
      for (const entry of table.entries) {
        const us = entry.keys.lat.number
        const slot = log2Slot(fromMicroseconds(us, unit))
        const key = `${label ? entry.keys[label.field].number : 0}/${slot}`
        current.set(key, (current.get(key) ?? 0) + entry.hitcount)
      }
      const byLabel = new Map<number, Map<number, number>>()
      for (const [key, n] of deltas.next(current)) {
        const [labelValue, slot] = key.split('/').map(Number)
        if (!byLabel.has(labelValue)) byLabel.set(labelValue, new Map())
        byLabel.get(labelValue)!.set(slot, n)
      }
      return [...byLabel].map(([l, slots]) => log2Histogram(labelName(l), slots)).sort((a, b) => (a.label ?? '').localeCompare(b.label ?? ''))
    },
  }
}
