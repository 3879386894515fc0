import type {HostFiles} from '../system/files.js'

/** The uprobe PMU (4.17+): where it exists, perf_event_open makes a uprobe without tracefs. */
export const UPROBE_PMU = '/sys/bus/event_source/devices/uprobe/type'

export interface UprobeEvent {
  /** Its tracepoint id, for perf_event_open. */
  id: number
  remove(): Promise<void>
}

/**
 * Defines a uprobe (or, with `ret`, a uretprobe) event at a file offset, as a BPF uprobe is made
 * on kernels without the uprobe PMU (libbpf would write uprobe_events only where tracefs is
 * mounted at /sys/kernel/tracing or /sys/kernel/debug/tracing). The caller checks the path and
 * names (TracefsSession.uprobe does for the tools). Removing it needs its perf events closed.
 */
export async function defineUprobeEvent(files: HostFiles, tracefs: string, group: string, event: string, target: {path: string; offset: bigint}, ret: boolean): Promise<UprobeEvent> {
  const file = `${tracefs}/uprobe_events`
  await files.write(file, `${ret ? 'r' : 'p'}:${group}/${event} ${target.path}:0x${target.offset.toString(16)}`, 'append')
  const remove = () => files.write(file, `-:${group}/${event}`, 'append')
  try {
    return {id: Number((await files.read(`${tracefs}/events/${group}/${event}/id`)).trim()), remove}
  } catch (error) {
    await remove()
    throw error
  }
}
