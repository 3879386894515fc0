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
  /**
   * usecs (the default): latencies in µs, counted by value, turned into log2 slots of the unit by
   * diag. log2-nsecs: in ns, counted by the kernel's .log2, which puts (2^(k-1), 2^k] in bucket k:
   * diag's slot k-1, except that a latency of exactly 2^k ns belongs to slot k (a bucket error of
   * one, for those values only). Needed where most latencies are below a microsecond.
   */
  resolution?: 'usecs' | 'log2-nsecs'
  /** Keys the start and end tables hold (PAIRING_KEYS when absent). */
  keys?: number
}

export interface LatencyHist {
  attach: string
  /** With resolution log2-nsecs, `unit` must be nsecs. */
  read(unit: TimeUnit, labelName: (label: number) => string | null): Promise<Histogram[]>
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
  return pairLatency(session, await session.instance(pairing.purpose), pairing)
}

/**
 * One pairing in an instance of the caller's (several pairings can share one): its synthetic
 * event is named by its purpose.
 */
export async function pairLatency(session: TracefsSession, dir: string, pairing: LatencyPairing): Promise<LatencyHist> {
  const label = pairing.label
  const log2 = pairing.resolution === 'log2-nsecs'
  const keys = pairing.keys ?? PAIRING_KEYS
  const timestamp = log2 ? 'common_timestamp' : 'common_timestamp.usecs'
  const synthetic = await session.syntheticEvent(pairing.purpose, label ? `${label.type} ${label.field}; u64 lat` : 'u64 lat')
  const [startSystem, startName] = pairing.start.event.split('/')
  await session.addTrigger(dir, pairing.start.event, `hist:keys=${pairing.start.key}:ts0=${timestamp}:size=${keys}`)
  const args = label ? `${label.field},$lat` : '$lat'
  await session.addTrigger(
    dir,
    pairing.end.event,
    `hist:keys=${pairing.end.key}:lat=${timestamp}-$ts0:size=${keys}:onmatch(${startSystem}.${startName}).${synthetic}(${args})`,
  )
  const latKey = log2 ? 'lat.log2' : 'lat'
  const histKeys = label ? `${label.field},${latKey}` : latKey
  // Sorted by value for people who read the file; a log2 key's order is the kernel's.
  const histTrigger = `hist:keys=${histKeys}:vals=hitcount${log2 ? '' : ':sort=lat'}:size=${LATENCY_VALUES}`
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
        const slot = log2 ? kernelLog2Slot(entry.keys.lat.text) : log2Slot(fromMicroseconds(entry.keys.lat.number, unit))
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

/** diag's log2 slot of a `.log2` hist key ("~ 2^10": values in (2^9, 2^10]); see LatencyPairing.resolution. */
export function kernelLog2Slot(text: string): number {
  const power = /2\^(\d+)/.exec(text)
  if (!power) throw new Error(`not a log2 hist key: ${JSON.stringify(text)}`)
  return Math.max(0, Number(power[1]) - 1)
}
