import {closeSync, openSync, readSync} from 'node:fs'
import path from 'node:path'

import {crc32} from '../system/crc32.js'
import {ElfSymbols} from './elf.js'

/** Where distributions install separate debug files (Debian's *-dbg, *-dbgsym packages). */
export const DEFAULT_DEBUG_ROOT = '/usr/lib/debug'

/** The CRC-32 of a whole file (the one .gnu_debuglink records), read a piece at a time. */
function fileCrc32(file: string): number {
  const fd = openSync(file, 'r')
  try {
    const buffer = Buffer.alloc(1 << 20)
    let crc = 0
    for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; ) crc = crc32(buffer.subarray(0, n), crc)
    return crc
  } finally {
    closeSync(fd)
  }
}

function readElf(file: string): ElfSymbols | undefined {
  try {
    return ElfSymbols.read(file)
  } catch {
    return undefined
  }
}

/**
 * The separate debug file of a stripped file, as gdb finds it, and only when it is that file's:
 * by build-id, `ROOT/.build-id/ab/cdef....debug` with the same build-id inside; else by the
 * .gnu_debuglink name next to the file, in its `.debug/` subdirectory, or under `ROOT/<its dir>/`,
 * with the CRC the link records. `opened` is where diag read the file (through /proc/PID/root for
 * another mount namespace), `mapped` its path in the process's own namespace (for ROOT/<dir>).
 * Only a debug file with a .symtab is returned: one without adds no names.
 */
export function findDebugFile(elf: ElfSymbols, opened: string, mapped: string, debugRoot = DEFAULT_DEBUG_ROOT): ElfSymbols | undefined {
  const {buildId, debugLink} = elf.ids
  const useful = (debug: ElfSymbols | undefined) => (debug?.table === '.symtab' ? debug : undefined)
  if (buildId && /^[0-9a-f]{4,}$/.test(buildId)) {
    const debug = readElf(path.join(debugRoot, '.build-id', buildId.slice(0, 2), `${buildId.slice(2)}.debug`))
    if (debug?.ids.buildId === buildId && useful(debug)) return debug
  }
  // The link is a file name, from the traced file: nothing that could climb out of the directories.
  if (debugLink && !debugLink.name.includes('/') && debugLink.name !== '.' && debugLink.name !== '..') {
    const candidates = [
      path.join(path.dirname(opened), debugLink.name),
      path.join(path.dirname(opened), '.debug', debugLink.name),
      path.join(debugRoot, path.dirname(mapped), debugLink.name),
    ]
    for (const candidate of candidates) {
      if (candidate === opened) continue
      const debug = useful(readElf(candidate))
      if (!debug || (buildId && debug.ids.buildId && debug.ids.buildId !== buildId)) continue
      try {
        if (fileCrc32(candidate) === debugLink.crc) return debug
      } catch {
        // Unreadable: not this one.
      }
    }
  }
  return undefined
}
