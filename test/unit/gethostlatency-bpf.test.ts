import {describe, expect, it} from 'vitest'

import {lookupRow} from '../../tools/gethostlatency/bpf.js'

describe("gethostlatency's BPF record (gethostlatency.h struct lookup_event)", () => {
  it('reads the end time, latency, process, comm and host at their offsets', () => {
    const record = Buffer.alloc(124) // a perf buffer pads the 120 bytes
    record.writeBigUInt64LE(100_500_000_000n, 0) // ended at 100.5 s, monotonic
    record.writeBigUInt64LE(2_345_678n, 8) // 2.345678 ms
    record.writeUInt32LE(4242, 16)
    record.writeUInt32LE(4243, 20)
    record.write('diag-lookups\0', 24)
    record.write('example.org\0', 40)
    expect(lookupRow(record, (t) => `t${t}`)).toEqual({time: 't100.5', pid: 4242, comm: 'diag-lookups', latMs: 2.346, host: 'example.org'})
    // A host that fills its 80 bytes (cut at 79 by the program) and a 16-byte comm end at their fields.
    record.write('c'.repeat(16), 24)
    record.write('h'.repeat(80), 40)
    expect(lookupRow(record, () => '')).toMatchObject({comm: 'c'.repeat(16), host: 'h'.repeat(80)})
  })
})
