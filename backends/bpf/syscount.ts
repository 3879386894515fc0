import type {SyscountOptions} from '../../src/plan/options.js'
import {countsFrom, syscallName} from '../../src/result/normalize.js'
import {fieldOffset, readEventFormat} from '../../src/tracefs/format.js'
import type {Runner} from '../runner.js'
import {Deltas} from '../../src/result/deltas.js'
import {BpfTool} from './bpf-tool.js'

const runner: Runner<SyscountOptions> = {
  async start({options, probe, files, undo, targetPid}) {
    const format = await readEventFormat(files, probe.tracefs!, 'raw_syscalls/sys_enter')
    const bpf = BpfTool.open('syscount', undo)
    bpf.setU32('id_offset', fieldOffset(format, 'id', [8]))
    bpf.setU8('by_process', options.by === 'process' ? 1 : 0)
    await bpf.filterProcess(targetPid, files, probe.tracefs!)
    bpf.load(['sys_enter'])
    bpf.attachTracepoint('sys_enter', format)
    const deltas = new Deltas()
    const names = (): ((key: Buffer) => string) => {
      if (options.by === 'syscall') return (key) => syscallName(Number(key.readBigUInt64LE()))
      const comms = new Map(bpf.entries('comms').map(([pid, comm]) => [pid.readUInt32LE(), comm.toString('latin1').replace(/\0.*$/s, '')]))
      return (key) => {
        const tgid = Number(key.readBigUInt64LE())
        return `${comms.get(tgid) ?? '?'} [${tgid}]`
      }
    }
    return {
      attach: bpf.attachments,
      async collect() {
        const name = names()
        const current = new Map(bpf.countEntries('counts').map(([key, n]) => [name(key), n]))
        return countsFrom(options.by, deltas.next(current), options.top, options.syscalls)
      },
      async lost() {
        return bpf.lost()
      },
    }
  },
}

export default runner
