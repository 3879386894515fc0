import type {HostFiles} from '../../src/system/files.js'
import {BpfTool, slotName} from './bpf-tool.js'

/** How a function's calls are timed: an fentry/fexit pair (BTF, 5.5+), or a kprobe/kretprobe pair. */
export type TimingMethod = 'fentry' | 'kprobe'

/**
 * Loads and attaches the programs of bpf/function-timing.h that time `functions` (function i in
 * slot i), in an object opened, filtered and given its knobs by the caller. Routing keeps the
 * functions within SLOTS. Returns the attach line.
 */
export async function attachTimedFunctions(
  bpf: BpfTool,
  method: TimingMethod,
  functions: string[],
  where: {files: HostFiles; tracefs: string | undefined; pid: number; pattern: string},
): Promise<string> {
  const enter = functions.map((_, slot) => `enter_${method}_${slotName(slot)}`)
  const exit = functions.map((_, slot) => `exit_${method}_${slotName(slot)}`)
  if (method === 'fentry') functions.forEach((fn, slot) => [enter[slot], exit[slot]].forEach((p) => bpf.setAttachTarget(p, fn)))
  bpf.load([...enter, ...exit])
  for (const [slot, fn] of functions.entries()) {
    if (method === 'fentry') {
      bpf.attach(enter[slot], {kind: 'trace'}, `fentry ${fn}`)
      bpf.attach(exit[slot], {kind: 'trace'}, `fexit ${fn}`)
    } else {
      await bpf.attachKprobe(enter[slot], fn, false, where.files, where.tracefs, where.pid)
      await bpf.attachKprobe(exit[slot], fn, true, where.files, where.tracefs, where.pid)
    }
  }
  const pair = method === 'fentry' ? 'fentry/fexit' : 'kprobe/kretprobe'
  return `${pair} on ${functions.length} functions (${where.pattern})`
}
