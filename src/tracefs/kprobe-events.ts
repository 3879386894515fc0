import type {HostFiles} from '../system/files.js'

/** The kprobe PMU (4.17+): where it exists, perf_event_open makes a kprobe without tracefs. */
export const KPROBE_PMU = '/sys/bus/event_source/devices/kprobe/type'

export interface KprobeEvent {
  /** Its tracepoint id, for perf_event_open. */
  id: number
  remove(): Promise<void>
}

/**
 * Defines a kprobe (or, with `ret`, a kretprobe) event in kprobe_events, as a BPF kprobe is made
 * on kernels without the kprobe PMU. libbpf would define it only where tracefs is mounted at
 * /sys/kernel/tracing or /sys/kernel/debug/tracing; diag uses its own tracefs view, and names
 * the group with its pid like every event it makes. Removing it needs its perf events closed.
 */
export async function defineKprobeEvent(files: HostFiles, tracefs: string, group: string, event: string, func: string, ret: boolean): Promise<KprobeEvent> {
  const file = `${tracefs}/kprobe_events`
  await files.write(file, `${ret ? 'r' : 'p'}:${group}/${event} ${func}`, 'append')
  const remove = () => files.write(file, `-:${group}/${event}`, 'append')
  try {
    return {id: Number((await files.read(`${tracefs}/events/${group}/${event}/id`)).trim()), remove}
  } catch (error) {
    await remove()
    throw error
  }
}
