import {BpfTool} from '../../backends/bpf/bpf-tool.js'
import {EventBuffer, eventBufferKind, eventRowsCollector} from '../../backends/bpf/event-buffer.js'
import type {Collector, RowStream, Runner} from '../../backends/runner.js'
import type {Row} from '../../src/result/model.js'
import {wallTime} from '../../src/system/clock.js'
import {COLUMNS, type GethostlatencyOptions, NAME} from './tool.js'

// struct lookup_event (gethostlatency.h).
const EVENT = {endNs: 0, latencyNs: 8, pid: 16, comm: 24, host: 40, size: 120, commLength: 16, hostLength: 80}

function cString(record: Buffer, at: number, length: number): string {
  const field = record.subarray(at, at + length)
  const end = field.indexOf(0)
  return field.toString('utf8', 0, end < 0 ? field.length : end)
}

/** One lookup record as a row. */
export function lookupRow(record: Buffer, toTime: (monotonicSeconds: number) => string = wallTime): Row {
  return {
    time: toTime(Number(record.readBigUInt64LE(EVENT.endNs)) / 1e9),
    pid: record.readUInt32LE(EVENT.pid),
    comm: cString(record, EVENT.comm, EVENT.commLength),
    latMs: Math.round(Number(record.readBigUInt64LE(EVENT.latencyNs)) / 1e3) / 1e3,
    host: cString(record, EVENT.host, EVENT.hostLength),
  }
}

/**
 * BPF uprobe and uretprobe programs on each lookup function: the entry keeps the start time and
 * the host by thread, the return sends a record through the ring buffer (or the perf buffer,
 * before 5.8), read from Node's loop and pushed as rows.
 */
export const uprobe: Runner<GethostlatencyOptions> = {
  async start(ctx): Promise<Collector & RowStream> {
    const {libc} = ctx.options
    const bpf = await BpfTool.forRun(NAME, ctx, eventBufferKind(ctx.probe))
    bpf.load(['lookup_entry', 'lookup_return'])
    // Records that come before the rows collector listens wait in the buffer's queue.
    const events = EventBuffer.open(bpf, ctx.undo)
    for (const {name, offset} of libc.functions) {
      await bpf.attachUprobe('lookup_entry', {path: libc.path, offset, name}, false, ctx.files, ctx.probe.tracefs, ctx.pid)
      await bpf.attachUprobe('lookup_return', {path: libc.path, offset, name}, true, ctx.files, ctx.probe.tracefs, ctx.pid)
    }
    const attach = `${bpf.attachments} in ${libc.path} (${libc.source}), records through a ${events.kind} buffer`
    return eventRowsCollector(events, attach, COLUMNS, (records) => records.map((record) => lookupRow(record)))
  },
}
