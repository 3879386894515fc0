import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {crc32} from '../../src/system/crc32.js'
import {gzipCrc32} from '../helpers/crc.js'

describe('crc32 (the checksum .gnu_debuglink records)', () => {
  it('gives the standard check value, and continues from a previous CRC as zlib does', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926)
    expect(crc32(Buffer.alloc(0))).toBe(0)
    const data = Buffer.from('the quick brown fox jumps over the lazy dog'.repeat(100))
    expect(crc32(data.subarray(1000), crc32(data.subarray(0, 1000)))).toBe(crc32(data))
  })

  it("agrees with gzip's on a file of every byte value", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'diag-crc-'))
    try {
      const file = path.join(dir, 'bytes')
      writeFileSync(file, Buffer.from(Array.from({length: 70_000}, (_, i) => (i * 131 + (i >> 8)) & 0xff)))
      expect(crc32(Buffer.from(Array.from({length: 70_000}, (_, i) => (i * 131 + (i >> 8)) & 0xff)))).toBe(gzipCrc32(file))
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
