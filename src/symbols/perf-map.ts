import {closeSync, constants, fstatSync, openSync, readSync} from 'node:fs'

/**
 * A JIT's symbol map, `/tmp/perf-PID.map` (what `node --perf-basic-prof`, the JVM's perf agents
 * and LuaJIT write): a line a function, `START SIZE name`, start and size in hex. The file is
 * written by the traced process, so it is untrusted: read only when that process's user owns it
 * (as perf does), through no symbolic link, up to a size; names lose control characters and are
 * cut to a length.
 */

/** A map larger than this is not read (a long-running JIT writes a few megabytes). */
const MAX_MAP = 64 * 1024 * 1024
/** Longer names are cut (a JS frame's name holds its script's path). */
const MAX_NAME = 512

export interface JitSymbol {
  start: number
  size: number
  name: string
}

// Control characters would break a folded line or paint a terminal; a name keeps the rest.
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/g
const LINE = /^(?:0x)?([0-9a-f]{1,16}) (?:0x)?([0-9a-f]{1,16}) ([^\n]+)$/i

/** The symbols of a map's text, sorted by start; malformed lines are skipped. */
export function parsePerfMap(text: string): JitSymbol[] {
  const symbols: JitSymbol[] = []
  for (const line of text.split('\n')) {
    const m = LINE.exec(line)
    if (!m) continue
    const name = m[3].replace(CONTROL, ' ').trim().slice(0, MAX_NAME)
    const size = parseInt(m[2], 16)
    if (name && size > 0) symbols.push({start: parseInt(m[1], 16), size, name})
  }
  // A stable sort: of two functions at one start, the later line (the current one) stays last,
  // where the lookup finds it first.
  return symbols.sort((a, b) => a.start - b.start)
}

export class PerfMap {
  private constructor(
    /** Sorted by start. */
    private readonly symbols: JitSymbol[],
    /** The file's size when read: a larger one has new functions. */
    readonly size: number,
  ) {}

  /**
   * The map at `file` when it is a regular file owned by `uid` (the traced process's), else
   * undefined. Opened without following a symbolic link: /tmp is shared by every user.
   */
  static read(file: string, uid: number, known?: PerfMap): PerfMap | undefined {
    let fd: number
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
    } catch {
      return undefined
    }
    try {
      const stat = fstatSync(fd)
      if (!stat.isFile() || stat.uid !== uid || stat.size > MAX_MAP) return undefined
      // Nothing written since: the map already read holds all it has.
      if (known && stat.size === known.size) return known
      const buffer = Buffer.alloc(stat.size)
      let done = 0
      for (let n; done < buffer.length && (n = readSync(fd, buffer, done, buffer.length - done, done)) > 0; ) done += n
      // A line still being written at the end is left for the next read.
      const text = buffer.toString('utf8', 0, buffer.lastIndexOf(10, done - 1) + 1)
      return new PerfMap(parsePerfMap(text), stat.size)
    } catch {
      return undefined
    } finally {
      closeSync(fd)
    }
  }

  /** The function whose code holds this address. */
  lookup(address: number): string | undefined {
    let low = 0
    let high = this.symbols.length - 1
    let found = -1
    while (low <= high) {
      const middle = (low + high) >> 1
      if (this.symbols[middle].start <= address) {
        found = middle
        low = middle + 1
      } else {
        high = middle - 1
      }
    }
    // Code moved or freed leaves older entries below: the nearest that covers the address wins.
    for (let i = found; i >= 0 && i > found - 64; i--) {
      const s = this.symbols[i]
      if (address < s.start + s.size) return s.name
    }
    return undefined
  }
}
