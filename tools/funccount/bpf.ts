import type {FunccountOptions} from './tool.js'
import {countsFrom} from '../../src/result/normalize.js'
import {matchedFunctions} from '../../src/tracefs/functions.js'
import type {Runner} from '../../backends/runner.js'
import {Deltas} from '../../src/result/deltas.js'
import {BpfTool, slotName} from '../../backends/bpf/bpf-tool.js'

const program = (type: 'fentry' | 'kprobe', slot: number) => `count_${type}_${slotName(slot)}`

type Method = 'kprobe-multi' | 'fentry' | 'kprobe'

function funccount(method: Method): Runner<FunccountOptions> {
  return {
    async start({options, probe, files, undo, targetPid, pid, functions: matched}) {
      // Routing passes this candidate over when the pattern matches more functions than SLOTS.
      const functions = matchedFunctions(matched)
      const bpf = await BpfTool.forRun('funccount', {undo, probe, files, targetPid})
      if (method === 'kprobe-multi') {
        bpf.setMaxEntries('slots', functions.length)
        bpf.load(['count_multi'])
        const cookies = functions.map((_, slot) => slot)
        bpf.attach('count_multi', {kind: 'kprobe_multi', symbols: functions, cookies}, `kprobe_multi on ${functions.length} functions`)
      } else {
        const programs = functions.map((_, slot) => program(method, slot))
        if (method === 'fentry') functions.forEach((fn, slot) => bpf.setAttachTarget(programs[slot], fn))
        bpf.load(programs)
        for (const [slot, fn] of functions.entries()) {
          if (method === 'fentry') bpf.attach(programs[slot], {kind: 'trace'}, `fentry ${fn}`)
          else await bpf.attachKprobe(programs[slot], fn, false, files, probe.tracefs, pid)
        }
      }
      const deltas = new Deltas()
      return {
        attach: method === 'kprobe-multi' ? bpf.attachments : `${method} on ${functions.length} functions (${options.pattern})`,
        async collect() {
          const current = new Map<string, number>()
          for (const [key, n] of bpf.countEntries('slots')) {
            const slot = key.readUInt32LE()
            if (slot < functions.length) current.set(functions[slot], n)
          }
          return countsFrom('function', deltas.next(current), options.top)
        },
        async lost() {
          return bpf.lost()
        },
      }
    },
  }
}

export const kprobeMulti = funccount('kprobe-multi')
export const fentry = funccount('fentry')
export const kprobe = funccount('kprobe')
