import type {OffcputimeOptions} from './tool.js'
import {fieldOffset, readEventFormat} from '../../src/tracefs/format.js'
import type {Stack, Stacks} from '../../src/result/kinds/stacks.js'
import type {HostFiles} from '../../src/system/files.js'
import type {UndoLog} from '../../src/system/undo.js'
import {Symbolizer} from '../../src/symbols/symbolizer.js'
import type {Collector, RunContext, Runner} from '../../backends/runner.js'
import {BpfTool} from '../../backends/bpf/bpf-tool.js'
import {type StackTally, stackKey, stackOfKey, withoutTracerFrames} from './stacks.js'

// struct offcpu_key (offcputime.h): pid, tgid, user and kernel stack ids, comm[16].
const KEY_SIZE = 32
// bpf_get_stackid's answer for a task with no user stack (a kernel thread).
const EFAULT = -14
// How often the processes behind new stacks have their maps read, so that a process that exits
// before the next interval still has its frames named.
const REMEMBER_MS = 50

interface OffcpuKey {
  pid: number
  tgid: number
  userStack: number
  kernelStack: number
  comm: string
}

function decodeKey(key: Buffer): OffcpuKey {
  const comm = key.subarray(16, KEY_SIZE)
  const end = comm.indexOf(0)
  return {
    pid: key.readUInt32LE(0),
    tgid: key.readUInt32LE(4),
    userStack: key.readInt32LE(8),
    kernelStack: key.readInt32LE(12),
    comm: comm.toString('utf8', 0, end < 0 ? comm.length : end),
  }
}

/** The addresses of a stack trace map entry, innermost first (the rest of the slot is zeros). */
function addresses(value: Buffer): bigint[] {
  const out: bigint[] = []
  for (let at = 0; at + 8 <= value.length; at += 8) {
    const address = value.readBigUInt64LE(at)
    if (address === 0n) break
    out.push(address)
  }
  return out
}

function stacksCollector(bpf: BpfTool, ctx: RunContext<OffcputimeOptions>, files: HostFiles, undo: UndoLog): Collector {
  const {options} = ctx
  const symbols = new Symbolizer(files)
  const stackCache = new Map<number, bigint[]>()
  // Nanoseconds per key as last read: the map is never cleared, each interval is a difference.
  const previous = new Map<string, bigint>()

  const stackOf = (id: number): bigint[] | undefined => {
    let known = stackCache.get(id)
    if (!known) {
      const id32 = Buffer.alloc(4)
      id32.writeUInt32LE(id)
      const value = bpf.lookup('stacks', id32)
      if (!value) return undefined
      known = addresses(value)
      stackCache.set(id, known)
    }
    return known
  }

  // Reads the maps of processes seen for the first time while they live.
  let remembering = false
  const rememberNew = async () => {
    if (remembering) return
    remembering = true
    try {
      for (const [key] of bpf.entries('seen_tgids')) {
        const tgid = key.readUInt32LE(0)
        if (!symbols.knows(tgid)) await symbols.remember(tgid)
      }
    } finally {
      remembering = false
    }
  }
  const timer = options.stacks === 'kernel' ? undefined : setInterval(() => void rememberNew().catch(() => {}), REMEMBER_MS)
  const stopRemembering = () => clearInterval(timer)
  undo.push('stop reading process maps', stopRemembering)

  return {
    attach: bpf.attachments,
    async collect(): Promise<Stacks> {
      const tally: StackTally = new Map()
      const seen = new Set<number>()
      for (const [rawKey, value] of bpf.entries('blocked')) {
        const id = rawKey.toString('hex')
        const total = value.readBigUInt64LE(0)
        const delta = total - (previous.get(id) ?? 0n)
        previous.set(id, total)
        if (delta <= 0n) continue
        const key = decodeKey(rawKey)
        // Maps read again at each interval while the process lives (it may have loaded more).
        if (options.stacks !== 'kernel' && !seen.has(key.tgid)) {
          seen.add(key.tgid)
          await symbols.remember(key.tgid)
        }
        const user: string[] = []
        if (options.stacks !== 'kernel') {
          if (key.userStack >= 0) {
            const stack = stackOf(key.userStack)
            if (stack) for (const address of stack) user.push(await symbols.userFrame(key.tgid, Number(address)))
            else user.push('[lost user stack]')
          } else if (key.userStack !== EFAULT) user.push('[lost user stack]')
        }
        const kernel: string[] = []
        if (options.stacks !== 'user') {
          const stack = key.kernelStack >= 0 ? stackOf(key.kernelStack) : undefined
          if (stack) for (const address of stack) kernel.push(await symbols.kernelFrame(address))
          else kernel.push('[lost kernel stack]')
        }
        const frames = stackKey(options.perPid ? `${key.comm}-${key.tgid}` : key.comm, user, withoutTracerFrames(kernel))
        tally.set(frames, (tally.get(frames) ?? 0) + Number(delta) / 1000)
      }
      return stacksOf(tally)
    },
    async stop() {
      stopRemembering()
    },
    async lost() {
      return bpf.lost()
    },
  }
}

export function stacksOf(tally: StackTally): Stacks {
  const stacks: Stack[] = [...tally].map(([key, us]) => stackOfKey(key, Math.round(us)))
  return {kind: 'stacks', unit: 'usecs', stacks}
}

function setKnobs(bpf: BpfTool, options: OffcputimeOptions): void {
  bpf.setU64('min_block_ns', options.minBlockUs * 1000)
  bpf.setU8('user_stacks', options.stacks === 'kernel' ? 0 : 1)
  bpf.setU8('kernel_stacks', options.stacks === 'user' ? 0 : 1)
}

/** offcputime from the classic sched_switch, the switched-in pid at its offset from tracefs: no BTF needed. */
export const tracepoint: Runner<OffcputimeOptions> = {
  async start(ctx) {
    const {options, probe, files, undo} = ctx
    const sched = await readEventFormat(files, probe.tracefs!, 'sched/sched_switch')
    const bpf = await BpfTool.forRun('offcputime', ctx)
    setKnobs(bpf, options)
    bpf.setU32('next_pid_offset', fieldOffset(sched, 'next_pid', [4]))
    bpf.load(['sched_switch'])
    bpf.attachTracepoint('sched_switch', sched)
    return stacksCollector(bpf, ctx, files, undo)
  },
}

/** offcputime from the BTF-typed sched_switch (offcputime.tp_btf.bpf.c). */
export const tpBtf: Runner<OffcputimeOptions> = {
  async start(ctx) {
    const {options, files, undo} = ctx
    const bpf = await BpfTool.forRun('offcputime.tp_btf', ctx)
    setKnobs(bpf, options)
    bpf.load(['sched_switch'])
    bpf.attach('sched_switch', {kind: 'trace'}, 'tp_btf sched:sched_switch')
    return stacksCollector(bpf, ctx, files, undo)
  },
}
