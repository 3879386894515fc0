import {describe, expect, it} from 'vitest'

import {NotSupportedError} from '../../src/errors.js'
import {type SockDump, TRANSFERS, btfDisagreements, findTcpSockOffsets, requireOffsets, tcpSockSize} from '../../src/net/tcp-offsets.js'

/** Where a synthetic tcp_sock keeps the fields, and other fields that hold the same values. */
interface Layout {
  srtt: number
  mdev: number
  bytesReceived: number
  bytesAcked: number
  /** u32 offsets that hold srtt_us too (tcp_sock's rcv_rtt_est.rtt_us can). */
  srttDecoys?: number[]
  /** u64 offsets that hold bytes_acked too. */
  ackedDecoys?: number[]
  /** Where bytes_sent (6.1+) is: one less than bytes_acked, which counts the SYN. */
  bytesSent?: number
}

const RTTS = [[37, 9], [52, 14], [29, 6]]

/** One dump per connection of TRANSFERS: a 4 KiB socket of noise that matches nothing, and the fields. */
function dumps(layout: Layout, {count = TRANSFERS.length, bytes = true} = {}): SockDump[] {
  return TRANSFERS.slice(0, count).map(([client, server], n) => {
    const [rtt, rttvar] = RTTS[n]
    const dump = Buffer.alloc(4096)
    for (let o = 0; o < dump.length; o += 4) dump.writeUInt32LE(0xdead0000 + o, o)
    const srttUs = (rtt << 3) + 5
    dump.writeUInt32LE(srttUs, layout.srtt)
    dump.writeUInt32LE((rttvar << 2) + 1, layout.mdev)
    for (const o of layout.srttDecoys ?? []) dump.writeUInt32LE(srttUs, o)
    dump.writeBigUInt64LE(BigInt(server), layout.bytesReceived)
    dump.writeBigUInt64LE(BigInt(client + 1), layout.bytesAcked)
    for (const o of layout.ackedDecoys ?? []) dump.writeBigUInt64LE(BigInt(client + 1), o)
    if (layout.bytesSent !== undefined) dump.writeBigUInt64LE(BigInt(client), layout.bytesSent)
    return {info: {rtt, rttvar, bytesAcked: bytes ? client + 1 : null, bytesReceived: bytes ? server : null}, bytes: dump}
  })
}

// 6.1's layout has mdev_us right after srtt_us; 6.18's (from this host's BTF) does not.
const ADJACENT: Layout = {srtt: 1496, mdev: 1500, bytesReceived: 1384, bytesAcked: 1432, bytesSent: 1424}
const HOST_6_18: Layout = {srtt: 1680, mdev: 1588, bytesReceived: 1752, bytesAcked: 1824, bytesSent: 1544}

describe('findTcpSockOffsets: tcp_sock fields found by their TCP_INFO values', () => {
  it('finds srtt_us followed by mdev_us, and the byte counts, in the layout of 3.15 to 6.7', () => {
    expect(findTcpSockOffsets(dumps(ADJACENT))).toEqual({
      srtt_us: {offset: 1496},
      mdev_us: {offset: 1500},
      bytes_received: {offset: 1384},
      bytes_acked: {offset: 1432},
    })
  })

  it('finds them in 6.18\'s layout, where mdev_us is elsewhere and srtt_us the only match', () => {
    expect(findTcpSockOffsets(dumps(HOST_6_18))).toEqual({
      srtt_us: {offset: 1680},
      mdev_us: {offset: 1588},
      bytes_received: {offset: 1752},
      bytes_acked: {offset: 1824},
    })
  })

  it('takes the srtt_us that mdev_us follows over another u32 of the same value', () => {
    expect(findTcpSockOffsets(dumps({...ADJACENT, srttDecoys: [1700]})).srtt_us).toEqual({offset: 1496})
  })

  it('refuses srtt_us where two u32s match and neither has mdev_us after it', () => {
    const found = findTcpSockOffsets(dumps({...HOST_6_18, srttDecoys: [1700]}))
    expect(found.srtt_us).toEqual({why: 'tcp_sock.srtt_us: a u32 whose >> 3 is tcpi_rtt in 2 places (1680, 1700) of the socket, not exactly one'})
    expect(() => requireOffsets(found, ['srtt_us'])).toThrow(NotSupportedError)
    expect(() => requireOffsets(found, ['srtt_us'])).toThrow(/tcp_sock offsets not calibrated: tcp_sock.srtt_us: .* in 2 places/)
  })

  it('refuses a byte count found in two places in every connection', () => {
    const found = findTcpSockOffsets(dumps({...ADJACENT, ackedDecoys: [2000]}))
    expect(found.bytes_acked).toEqual({why: 'tcp_sock.bytes_acked: a u64 equal to tcpi_bytes_acked in 2 places (1432, 2000) of the socket, not exactly one'})
    expect(requireOffsets(found, ['srtt_us', 'bytes_received'])).toEqual({srtt_us: 1496, bytes_received: 1384})
  })

  it('keeps only the places that match in every connection: a coincidence in one is dropped', () => {
    const all = dumps(ADJACENT)
    all[0].bytes.writeBigUInt64LE(BigInt(TRANSFERS[0][0] + 1), 2000)
    all[1].bytes.writeUInt32LE((RTTS[1][0] << 3) + 2, 1800)
    all[1].bytes.writeUInt32LE((RTTS[1][1] << 2) + 2, 1804)
    expect(findTcpSockOffsets(all)).toMatchObject({srtt_us: {offset: 1496}, bytes_acked: {offset: 1432}})
    // One connection alone cannot tell them apart.
    expect(findTcpSockOffsets(all.slice(0, 1)).bytes_acked).toMatchObject({why: expect.stringContaining('2 places (1432, 2000)')})
  })

  it('searches only the socket\'s slab object: the next socket in the slab can hold the same counts', () => {
    // linux-4.9 in the lab: bytes_received at 1312, and the same count at 3336, a socket further on.
    const layout = {...ADJACENT, ackedDecoys: [3336]}
    expect(findTcpSockOffsets(dumps(layout)).bytes_acked).toMatchObject({why: expect.stringContaining('2 places (1432, 3336)')})
    expect(findTcpSockOffsets(dumps(layout), 2048).bytes_acked).toEqual({offset: 1432})
  })

  it('finds nothing in a socket that has not measured an RTT (zeros are no match)', () => {
    const zero = dumps(ADJACENT).map((d) => ({info: {...d.info, rtt: 0, rttvar: 0}, bytes: Buffer.alloc(4096)}))
    const found = findTcpSockOffsets(zero)
    expect(found.srtt_us).toMatchObject({why: expect.stringContaining('in no place')})
    expect(found.bytes_acked).toMatchObject({why: expect.stringContaining('in no place')})
  })

  it('says the byte counts cannot be found where tcp_info has none (before 4.1)', () => {
    const found = findTcpSockOffsets(dumps(ADJACENT, {bytes: false}))
    expect(found.srtt_us).toEqual({offset: 1496})
    expect(found.bytes_acked).toEqual({why: "tcp_sock.bytes_acked: this kernel's tcp_info has no byte counts (4.1+)"})
  })
})

describe('tcpSockSize', () => {
  it("reads the TCP cache's objsize from /proc/slabinfo, not TCPv6's", () => {
    const slabinfo = [
      'slabinfo - version: 2.1',
      '# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>',
      'TCPv6                 26     26   2496   13    8 : tunables    0    0    0 : slabdata      2      2      0',
      'TCP                   91     91   2368   13    8 : tunables    0    0    0 : slabdata      7      7      0',
    ].join('\n')
    expect(tcpSockSize(slabinfo)).toBe(2368)
    expect(tcpSockSize('')).toBeUndefined()
  })
})

describe('btfDisagreements', () => {
  it('names each calibrated offset BTF places elsewhere, and nothing without BTF', () => {
    const btf = {srtt_us: 1680, bytes_acked: 1824, mdev_us: null, bytes_received: null}
    expect(btfDisagreements({srtt_us: 1680, bytes_acked: 1832}, (f) => btf[f])).toEqual(['tcp_sock.bytes_acked calibrated at 1832, BTF says 1824'])
    expect(btfDisagreements({srtt_us: 1496}, () => null)).toEqual([])
  })
})
