import type {SyscountOptions} from './tool.js'
import {Deltas} from '../../src/result/deltas.js'
import {countsFrom, syscallName} from '../../src/result/normalize.js'
import {fieldOffset, readEventFormat} from '../../src/tracefs/format.js'
import type {Collector, RunContext, Runner} from '../../backends/runner.js'
import {BpfTool} from '../../backends/bpf/bpf-tool.js'

/**
 * The counts so far by syscall number tgid or thread id: the per-CPU array's slots that counted (by syscall
 * number, bpf/syscount.h) and the per-CPU hash (numbers beyond the array, tgid or thread ids).
 */
function readCounts(bpf: BpfTool): Map<number, number> {
  const counts = new Map<number, number>()
  for (const [key, n] of bpf.countEntries('syscall_counts')) if (n > 0) counts.set(key.readUInt32LE(), n)
  for (const [key, n] of bpf.countEntries('counts')) {
    const id = Number(key.readBigInt64LE())
    counts.set(id, (counts.get(id) ?? 0) + n)
  }
  return counts
}

/** Counts named by syscall, process (tgid) or thread, as differences between reads. */
function countsCollector(bpf: BpfTool, options: SyscountOptions): Collector {
  const deltas = new Deltas()
  const names = (): ((id: number) => string) => {
    if (options.by === 'syscall') return syscallName
    const comms = new Map(bpf.entries('comms').map(([pid, comm]) => [pid.readUInt32LE(), comm.toString('latin1').replace(/\0.*$/s, '')]))
    return (id) => `${comms.get(id) ?? '?'} [${id}]`
  }
  return {
    attach: bpf.attachments,
    async collect() {
      const name = names()
      const current = new Map([...readCounts(bpf)].map(([id, n]) => [name(id), n]))
      return countsFrom(options.by, deltas.next(current), options.top, options.syscalls)
    },
    async lost() {
      return bpf.lost()
    },
  }
}

async function open(object: string, ctx: RunContext<SyscountOptions>): Promise<BpfTool> {
  const bpf = await BpfTool.forRun(object, ctx)
  bpf.setU8('count_by', {syscall: 0, process: 1, thread: 2}[ctx.options.by])
  return bpf
}

/** syscount on the classic raw_syscalls:sys_enter tracepoint: no BTF needed. */
export const tracepoint: Runner<SyscountOptions> = {
  async start(ctx) {
    const format = await readEventFormat(ctx.files, ctx.probe.tracefs!, 'raw_syscalls/sys_enter')
    const bpf = await open('syscount', ctx)
    bpf.setU32('id_offset', fieldOffset(format, 'id', [8]))
    bpf.load(['sys_enter'])
    bpf.attachTracepoint('sys_enter', format)
    return countsCollector(bpf, ctx.options)
  },
}

/** syscount on the raw sys_enter tracepoint (bpf/syscount.raw_tp.bpf.c): the id is an argument, no BTF needed. */
export const rawTracepoint: Runner<SyscountOptions> = {
  async start(ctx) {
    const bpf = await open('syscount.raw_tp', ctx)
    bpf.load(['sys_enter'])
    bpf.attach('sys_enter', {kind: 'raw_tracepoint', name: 'sys_enter'}, 'raw_tracepoint sys_enter')
    return countsCollector(bpf, ctx.options)
  },
}

/** syscount on the BTF-typed sys_enter (bpf/syscount.tp_btf.bpf.c): the id is an argument. */
export const tpBtf: Runner<SyscountOptions> = {
  async start(ctx) {
    const bpf = await open('syscount.tp_btf', ctx)
    bpf.load(['sys_enter'])
    bpf.attach('sys_enter', {kind: 'trace'}, 'tp_btf raw_syscalls:sys_enter')
    return countsCollector(bpf, ctx.options)
  },
}
