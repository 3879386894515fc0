/**
 * CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320): the checksum zlib computes and
 * `.gnu_debuglink` records. Written here because Node's `zlib.crc32` came in Node 20.15, and diag
 * runs on Debian 12's Node 18 too; no dependency is worth ten lines.
 */
const TABLE = Uint32Array.from({length: 256}, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

/** The CRC-32 of `data`, continuing from `previous` (the CRC of what came before it), as zlib's crc32(). */
export function crc32(data: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0
  for (const byte of data) crc = TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8)
  return ~crc >>> 0
}
