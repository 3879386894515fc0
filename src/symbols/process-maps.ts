import {statSync} from 'node:fs'

/** A mapping of a process, from /proc/PID/maps. */
export interface Mapping {
  start: number
  end: number
  /** Where in the file the mapping starts. */
  offset: number
  /** The device of the mapped file ("fe:01"), with the inode naming the file. */
  device: string
  /** The mapped file's inode (0 for anonymous memory): tells whether a path seen from diag's side is the same file. */
  inode: number
  /** The mapped file, or a pseudo-name ("[vdso]"); empty for anonymous memory. */
  path: string
  executable: boolean
}

// "55d0c3a00000-55d0c3a01000 r-xp 00001000 fe:01 1234   /usr/bin/prog" (a path may hold spaces)
const LINE = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S{4})\s+([0-9a-f]+)\s+(\S+)\s+(\d+)\s*(.*)$/

/** Every mapping of /proc/PID/maps text, in order. */
export function parseMaps(text: string): Mapping[] {
  const mappings: Mapping[] = []
  for (const line of text.split('\n')) {
    const m = LINE.exec(line)
    if (!m) continue
    mappings.push({
      start: parseInt(m[1], 16),
      end: parseInt(m[2], 16),
      offset: parseInt(m[4], 16),
      device: m[5],
      inode: Number(m[6]),
      path: m[7].trim(),
      executable: m[3][2] === 'x',
    })
  }
  return mappings
}

/** The files a process maps, each once, in order of first mapping. */
export function mappedFiles(text: string): {path: string; inode: number}[] {
  const seen = new Map<string, {path: string; inode: number}>()
  for (const {path, inode} of parseMaps(text)) if (path.startsWith('/') && !seen.has(path)) seen.set(path, {path, inode})
  return [...seen.values()]
}

export function mappingAt(mappings: Mapping[], address: number): Mapping | undefined {
  return mappings.find((m) => address >= m.start && address < m.end)
}

/**
 * The first of `paths` that is the mapped file itself (the same inode): a process in a container
 * maps its own /usr/lib/libc.so.6, which diag sees through /proc/PID/root, while diag's own path
 * of that name is another file.
 */
export function sameFile(paths: string[], inode: number): string | undefined {
  return paths.find((file) => {
    try {
      return statSync(file).ino === inode
    } catch {
      return false
    }
  })
}
