import type {TcprttOptions} from './tool.js'
import {formatIp, sockaddrAddress} from '../../src/net/address.js'
import type {Histogram} from '../../src/result/model.js'
import {Deltas} from '../../src/result/deltas.js'
import {addSlots, fromMicroseconds, log2Histogram, log2Slot} from '../../src/result/normalize.js'
import type {Runner} from '../../backends/runner.js'
import {parseHist} from '../../backends/ftrace/hist.js'
import type {RawEvent} from '../../backends/ftrace/ring-buffer.js'
import {startRawEventStream} from '../../backends/ftrace/stream.js'
import {TracefsSession} from '../../backends/ftrace/tracefs-session.js'

const EVENT = 'tcp/tcp_probe'
// Distinct srtt values (µs) the hist trigger's table holds; more are counted as lost.
const SRTT_VALUES = 16384

/** The event filter for the port options ("sport == 80 && dport == 41000"), or undefined for none. */
export function portFilter(options: Pick<TcprttOptions, 'lport' | 'rport'>): string | undefined {
  const terms = [options.lport && `sport == ${options.lport}`, options.rport && `dport == ${options.rport}`].filter(Boolean)
  return terms.length ? terms.join(' && ') : undefined
}

/**
 * The remote address (as formatIp prints it; '' when not `byHost`, as it is not printed) and the
 * srtt in µs of a tcp_probe event, one a segment; undefined when its daddr holds no IP address.
 */
export function probeSample(event: RawEvent, byHost = true): {host: string; srttUs: number} | undefined {
  const remote = sockaddrAddress(event.fields.daddr as Uint8Array)
  return remote && {host: byHost ? formatIp(remote.address) : '', srttUs: event.fields.srtt as number}
}

/** tcprtt from tcp_probe events, read in binary from a private instance's per-CPU trace_pipe_raw. */
export const stream: Runner<TcprttOptions> = {
  async start(ctx) {
    const {options} = ctx
    let slots = new Map<string, Map<number, number>>()
    const filter = portFilter(options)
    const {pipe, attach} = await startRawEventStream(
      ctx,
      'tcprtt',
      // daddr: a struct sockaddr_in or sockaddr_in6 (the event has no family field before 5.x).
      [{event: EVENT, fields: ['daddr', 'srtt']}],
      (event) => {
        const sample = probeSample(event, options.byHost)
        if (!sample) return
        const label = sample.host
        if (!slots.has(label)) slots.set(label, new Map())
        addSlots(slots.get(label)!, log2Slot(fromMicroseconds(sample.srttUs, options.unit)), 1)
      },
      // Segments arrive in softirq context, filed under whatever task runs then, diag's included.
      {filterPid: false, excludeSelf: false, filters: filter ? {[EVENT]: filter} : {}},
    )
    return {
      attach,
      async collect() {
        await pipe.catchUp()
        const histograms: Histogram[] = [...slots]
          .map(([label, s]) => log2Histogram(options.byHost ? label : null, s))
          .sort((a, b) => (a.label ?? '').localeCompare(b.label ?? ''))
        slots = new Map()
        return {kind: 'histograms', unit: options.unit, labelKey: options.byHost ? 'host' : null, histograms}
      },
      stop: () => pipe.stop(),
      lost: () => pipe.lost(),
    }
  },
}

/**
 * tcprtt in the kernel: a hist trigger on tcp_probe counting samples by srtt value (µs). diag makes
 * the log2 slots from the values, so they are every other backend's (the kernel's .log2 rounds up).
 */
export const hist: Runner<TcprttOptions> = {
  async start(ctx) {
    const {options} = ctx
    const session = new TracefsSession(ctx.files, ctx.probe.tracefs!, ctx.pid, ctx.undo)
    const dir = await session.instance('tcprtt')
    const filter = portFilter(options)
    const trigger = `hist:keys=srtt:vals=hitcount:sort=srtt:size=${SRTT_VALUES}${filter ? ` if ${filter}` : ''}`
    await session.addTrigger(dir, EVENT, trigger)
    const table = `${dir}/events/${EVENT}/hist`
    const deltas = new Deltas()
    return {
      attach: `${trigger} on ${EVENT.replace('/', ':')}, in ${dir}`,
      async collect() {
        const current = new Map<string, number>()
        for (const entry of parseHist(await session.read(table)).entries) {
          const slot = String(log2Slot(fromMicroseconds(entry.keys.srtt.number, options.unit)))
          current.set(slot, (current.get(slot) ?? 0) + entry.hitcount)
        }
        const slots = new Map([...deltas.next(current)].map(([slot, n]) => [Number(slot), n]))
        const histogram = log2Histogram(null, slots)
        return {kind: 'histograms', unit: options.unit, labelKey: null, histograms: histogram.count ? [histogram] : []}
      },
      lost: async () => parseHist(await session.read(table)).dropped,
    }
  },
}
