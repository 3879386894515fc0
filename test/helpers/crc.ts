import {execFileSync} from 'node:child_process'

/** A file's CRC-32 as gzip computes it: the first four bytes of its trailer (little-endian). */
export function gzipCrc32(file: string): number {
  const gzipped = execFileSync('gzip', ['-c', file])
  return gzipped.readUInt32LE(gzipped.length - 8)
}
