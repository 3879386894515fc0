import type {Stacks} from '../../src/result/kinds/stacks.js'
import {type Clock, systemClock} from '../../src/system/clock.js'
import type {HostFiles} from '../../src/system/files.js'
import type {UndoLog} from '../../src/system/undo.js'
import {Symbolizer} from '../../src/symbols/symbolizer.js'
import {offWakeKey, type StackTally, stackKey, stacksOf, withoutTracerFrames} from '../../src/symbols/stacks.js'
import type {Collector} from '../runner.js'
import type {BpfTool} from './bpf-tool.js'

/**
 * What user space shares for the BPF tools that sum a value by stack (offcputime, offwaketime,
 * profile): the key `struct stack_key` of bpf/stacks.h (pid, tgid, user and kernel stack ids into
 * the `stacks` stack trace map, comm), or offwaketime's two of them (the blocked task's, then its
 * waker's), a u64 value per key in a hash map, and `seen_tgids`, the processes behind the keys
 * with a u32 count of each one's new keys, whose maps diag reads while they live.
 */
const KEY_SIZE = 32
// bpf_get_stackid's answer where there is no such stack: no user stack for a kernel thread, no
// kernel stack for a sample taken in user mode.
const EFAULT = -14
// How often the processes behind new stacks have their maps read, so that a process that exits
// before the next interval still has its frames named.
const REMEMBER_MS = 50
// How soon a process with new keys has its maps read again, unless it exec'd since (then at the
// next poll): their stacks may be in code mapped since the last read (the libraries ld.so maps
// after an exec, a dlopen). Not at every poll: maps are read for every process with new keys,
// and a busy process has new ones for a long time.
export const REREAD_MS = 250

export interface StackKey {
  pid: number
  tgid: number
  userStack: number
  kernelStack: number
  comm: string
}

export function decodeStackKey(key: Buffer): StackKey {
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

/** When a process's maps were last read, and how many new keys seen_tgids counted for it then. */
export interface MapsRead {
  newKeys: number
  at: number
}

/**
 * Whether to read a process's maps now, from seen_tgids' count of its new keys: at its first
 * key; and again once it has new ones, at once if it exec'd since (execedSince) or else
 * REREAD_MS after the last read. A process that execs keeps its pid: read only once, at its first
 * stacks (a shell's, say, or diag-gate's), its maps would leave its new program's frames unnamed.
 */
export function mapsDue(last: MapsRead | undefined, newKeys: number, now: number, execedSince: () => boolean): boolean {
  if (!last) return true
  if (newKeys === last.newKeys) return false
  return now - last.at >= REREAD_MS || execedSince()
}

export interface StackCountsOptions {
  /** Which stacks the program records. */
  stacks: 'both' | 'kernel' | 'user'
  /** The first frame is comm-PID, not the comm. */
  perPid: boolean
}

export interface StackValues {
  /** The hash map of u64 values by struct stack_key. */
  map: string
  /** What a value counts, once divided by `divisor`: "usecs", "samples". */
  unit: string
  divisor: number
  /**
   * The key is offwaketime's struct offwake_key: the blocked task's stack_key, then its waker's
   * (all zeros where the wakeup was not seen), joined as off-wake stacks.
   */
  withWaker?: boolean
}

/**
 * A collector of the stacks kind from a loaded object's stack map and values: each interval is the
 * difference from the previous read (the map is never cleared), its stacks named by the symbolizer.
 */
export function stackCountsCollector(bpf: BpfTool, options: StackCountsOptions, values: StackValues, files: HostFiles, undo: UndoLog, clock: Clock = systemClock): Collector {
  const symbols = new Symbolizer(files)
  const stackCache = new Map<number, bigint[]>()
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

  // Reads the maps of processes with new keys while they live (mapsDue).
  const reads = new Map<number, MapsRead>()
  let remembering = false
  const rememberNew = async () => {
    if (remembering) return
    remembering = true
    try {
      for (const [key, value] of bpf.entries('seen_tgids')) {
        const tgid = key.readUInt32LE(0)
        const newKeys = value.readUInt32LE(0)
        const now = clock.now()
        if (!mapsDue(reads.get(tgid), newKeys, now, () => symbols.execedSince(tgid))) continue
        reads.set(tgid, {newKeys, at: now})
        await symbols.remember(tgid)
      }
    } finally {
      remembering = false
    }
  }
  const timer = options.stacks === 'kernel' ? undefined : setInterval(() => void rememberNew().catch(() => {}), REMEMBER_MS)
  const stopRemembering = () => clearInterval(timer)
  undo.push('stop reading process maps', stopRemembering)

  // A key's stacks named, innermost first, as the options ask for them; never dropped.
  const framesOf = async (key: StackKey): Promise<{user: string[]; kernel: string[]}> => {
    const user: string[] = []
    if (options.stacks !== 'kernel') {
      if (key.userStack >= 0) {
        const stack = stackOf(key.userStack)
        if (stack) for (const address of stack) user.push(await symbols.userFrame(key.tgid, Number(address), key.comm))
        else user.push('[lost user stack]')
      } else if (key.userStack !== EFAULT) user.push('[lost user stack]')
    }
    const kernel: string[] = []
    if (options.stacks !== 'user') {
      if (key.kernelStack >= 0) {
        const stack = stackOf(key.kernelStack)
        if (stack) for (const address of stack) kernel.push(await symbols.kernelFrame(address))
        else kernel.push('[lost kernel stack]')
      } else if (key.kernelStack !== EFAULT) kernel.push('[lost kernel stack]')
    }
    return {user, kernel: withoutTracerFrames(kernel)}
  }

  return {
    attach: bpf.attachments,
    async collect(): Promise<Stacks> {
      const tally: StackTally = new Map()
      const seen = new Set<number>()
      for (const [rawKey, value] of bpf.entries(values.map)) {
        const id = rawKey.toString('hex')
        const total = value.readBigUInt64LE(0)
        const delta = total - (previous.get(id) ?? 0n)
        previous.set(id, total)
        if (delta <= 0n) continue
        const key = decodeStackKey(rawKey)
        // Maps read again at each interval while the process lives (it may have loaded more).
        const remember = async (tgid: number) => {
          if (options.stacks === 'kernel' || seen.has(tgid)) return
          seen.add(tgid)
          await symbols.remember(tgid)
        }
        await remember(key.tgid)
        const {user, kernel} = await framesOf(key)
        const first = (k: StackKey) => (options.perPid ? `${k.comm}-${k.tgid}` : k.comm)
        let frames: string
        if (values.withWaker) {
          const waker = decodeStackKey(rawKey.subarray(KEY_SIZE, 2 * KEY_SIZE))
          // An empty comm: the program saw no wakeup for this block.
          if (waker.comm !== '') await remember(waker.tgid)
          const wakerFrames = waker.comm === '' ? undefined : {first: first(waker), ...(await framesOf(waker))}
          frames = offWakeKey(first(key), user, kernel, wakerFrames)
        } else frames = stackKey(first(key), user, kernel)
        tally.set(frames, (tally.get(frames) ?? 0) + Number(delta) / values.divisor)
      }
      return stacksOf(tally, values.unit)
    },
    async stop() {
      stopRemembering()
    },
    async lost() {
      return bpf.lost()
    },
  }
}

/** The knobs of bpf/stacks.h: which stacks the program records. Call before load(). */
export function setStackKnobs(bpf: BpfTool, options: StackCountsOptions): void {
  bpf.setU8('user_stacks', options.stacks === 'kernel' ? 0 : 1)
  bpf.setU8('kernel_stacks', options.stacks === 'user' ? 0 : 1)
}

/** The knobs of a blocked-time tool (offcputime, offwaketime): its stacks and --min-block. Call before load(). */
export function setBlockedKnobs(bpf: BpfTool, options: StackCountsOptions & {minBlockUs: number}): void {
  bpf.setU64('min_block_ns', options.minBlockUs * 1000)
  setStackKnobs(bpf, options)
}
