import {BadInputError} from '../errors.js'
import type {HostFiles} from '../system/files.js'
import {BINARY_PATH} from './names.js'

/** The kprobe PMU (4.17+): where it exists, perf_event_open makes a kprobe without tracefs. */
export const KPROBE_PMU = '/sys/bus/event_source/devices/kprobe/type'
/** The uprobe PMU (4.17+): where it exists, perf_event_open makes a uprobe without tracefs. */
export const UPROBE_PMU = '/sys/bus/event_source/devices/uprobe/type'

/** Where a probe event fires: a kernel function, or a file offset of an ELF file. */
export type ProbeSite = {kind: 'kprobe'; func: string} | {kind: 'uprobe'; path: string; offset: bigint}

/** A probe event to define: `group/event` at its site, on return with `ret`, with its fetch arguments. */
export interface ProbeEventSpec {
  group: string
  event: string
  site: ProbeSite
  ret?: boolean
  fetch?: string[]
}

/** The tracefs file that defines each kind. */
export const PROBE_EVENTS_FILE = {kprobe: 'kprobe_events', uprobe: 'uprobe_events'} as const

// What a uprobe definition may name: an event (a C identifier) and a file (absolute, no spaces);
// what either kind may fetch: arguments of the probe syntax only (name=+0(%di):string, $retval).
const EVENT_NAME = /^[A-Za-z_]\w*$/
const FETCH_ARG = /^[A-Za-z_]\w*=[\w%+():$.-]+$/

/**
 * The line that defines a probe event in kprobe_events or uprobe_events:
 * `p:group/event SITE [FETCH...]` (`r:` on return). Refuses, before anything is written, what
 * would be a second command or another definition's syntax.
 */
export function probeDefinition({group, event, site, ret = false, fetch = []}: ProbeEventSpec): string {
  let at: string
  if (site.kind === 'uprobe') {
    if (!EVENT_NAME.test(event) || !EVENT_NAME.test(group)) throw new BadInputError(`refusing uprobe event name ${JSON.stringify(`${group}/${event}`)}`)
    if (!BINARY_PATH.test(site.path)) throw new BadInputError(`refusing uprobe on ${JSON.stringify(site.path)}: an absolute path without spaces or special characters only`)
    if (site.offset < 0n) throw new BadInputError(`refusing uprobe at offset ${site.offset}`)
    at = `${site.path}:0x${site.offset.toString(16)}`
  } else {
    at = site.func
  }
  const bad = fetch.find((arg) => !FETCH_ARG.test(arg))
  if (bad !== undefined) throw new BadInputError(`refusing ${site.kind} fetch argument ${JSON.stringify(bad)}`)
  return [`${ret ? 'r' : 'p'}:${group}/${event} ${at}`, ...fetch].join(' ')
}

/** The line that removes `group/event` from its definition file. */
export const probeRemoval = (group: string, event: string): string => `-:${group}/${event}`

export interface ProbeEvent {
  /** Its tracepoint id, for perf_event_open. */
  id: number
  remove(): Promise<void>
}

/**
 * Defines a probe event and reads its tracepoint id, as a BPF kprobe or uprobe is made on kernels
 * without the kprobe/uprobe PMU. libbpf would define it only where tracefs is mounted at
 * /sys/kernel/tracing or /sys/kernel/debug/tracing; diag uses its own tracefs view, and names the
 * group with its pid like every event it makes. Removing it needs its perf events closed.
 */
export async function defineProbeEvent(files: HostFiles, tracefs: string, spec: ProbeEventSpec): Promise<ProbeEvent> {
  const file = `${tracefs}/${PROBE_EVENTS_FILE[spec.site.kind]}`
  await files.write(file, probeDefinition(spec), 'append')
  const remove = () => files.write(file, probeRemoval(spec.group, spec.event), 'append')
  try {
    return {id: Number((await files.read(`${tracefs}/events/${spec.group}/${spec.event}/id`)).trim()), remove}
  } catch (error) {
    await remove()
    throw error
  }
}
