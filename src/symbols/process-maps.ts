/** The executable mappings of a process, from /proc/PID/maps. */
export interface Mapping {
  start: number
  end: number
  /** Where in the file the mapping starts. */
  offset: number
  /** The mapped file, or a pseudo-name ("[vdso]"); empty for anonymous memory. */
  path: string
}

// "55d0c3a00000-55d0c3a01000 r-xp 00001000 fe:01 1234   /usr/bin/prog"
const LINE = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S{4})\s+([0-9a-f]+)\s+\S+\s+\d+\s*(.*)$/

export function parseMaps(text: string): Mapping[] {
  const mappings: Mapping[] = []
  for (const line of text.split('\n')) {
    const m = LINE.exec(line)
    if (!m || m[3][2] !== 'x') continue
    mappings.push({start: parseInt(m[1], 16), end: parseInt(m[2], 16), offset: parseInt(m[4], 16), path: m[5].trim()})
  }
  return mappings
}

export function mappingAt(mappings: Mapping[], address: number): Mapping | undefined {
  return mappings.find((m) => address >= m.start && address < m.end)
}
