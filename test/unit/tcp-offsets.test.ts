import {describe, expect, it} from 'vitest'

import {BackendError, NotSupportedError} from '../../src/errors.js'
import {
  type SockDump,
  TRANSFERS,
  type TcpSockField,
  type TcpSockOffsets,
  btfDisagreements,
  calibrateTcpSock,
  findTcpSockOffsets,
  requireOffsets,
  tcpSockSize,
} from '../../src/net/tcp-offsets.js'
import type {BootAnswers} from '../../src/probe/cache.js'
import type {HostProbe} from '../../src/probe/probe.js'
import {UndoLog} from '../../src/system/undo.js'
import {MemoryFiles} from '../helpers/memory-files.js'
import {MemoryCache} from '../helpers/probe-cache.js'

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

describe('calibrateTcpSock: the offsets kept for the boot in the probe cache', () => {
  /** A kernel whose calibration counts its runs and answers `found` (or throws it); `btf` as its BTF, none by default. */
  function fakeKernel(found: () => TcpSockOffsets, btf: Partial<Record<TcpSockField, number>> = {}) {
    const kernel = {
      measured: 0,
      async measure(): Promise<TcpSockOffsets> {
        kernel.measured++
        return found()
      },
      btfOffset: (field: TcpSockField) => btf[field] ?? null,
    }
    return kernel
  }
  const context = (answers: BootAnswers) => ({probe: {answers} as unknown as HostProbe, files: new MemoryFiles(), undo: new UndoLog(), pid: process.pid})
  const FOUND = (): TcpSockOffsets => findTcpSockOffsets(dumps(ADJACENT))

  it('calibrates once a boot: a second run (tcprtt, then tcplife) takes the offsets from the cache', async () => {
    const cache = new MemoryCache()
    const kernel = fakeKernel(FOUND)
    expect(await calibrateTcpSock(context(cache.answers()), ['srtt_us'], kernel)).toEqual({offsets: {srtt_us: 1496}, cached: false})
    expect(kernel.measured).toBe(1)
    expect(cache.saved.get('tcp_sock.srtt_us')).toMatchObject({status: 'available', evidence: 'probe', value: 1496})

    expect(await calibrateTcpSock(context(cache.answers()), ['srtt_us'], kernel)).toEqual({offsets: {srtt_us: 1496}, cached: true})
    expect(await calibrateTcpSock(context(cache.answers()), ['bytes_acked', 'bytes_received'], kernel)).toEqual({
      offsets: {bytes_acked: 1432, bytes_received: 1384},
      cached: true,
    })
    expect(kernel.measured).toBe(1)
  })

  it('calibrates anew with --no-cache, and keeps what it finds', async () => {
    const cache = new MemoryCache()
    cache.saved.set('tcp_sock.srtt_us', {status: 'available', evidence: 'probe', detail: 'calibrated against TCP_INFO', value: 8})
    const kernel = fakeKernel(FOUND)
    expect(await calibrateTcpSock(context(cache.answers(true)), ['srtt_us'], kernel)).toEqual({offsets: {srtt_us: 1496}, cached: false})
    expect(kernel.measured).toBe(1)
    expect(cache.saved.get('tcp_sock.srtt_us')?.value).toBe(1496)
  })

  it('keeps nothing of a calibration that failed or could not tell, and calibrates again next time', async () => {
    const cache = new MemoryCache()
    const nowhere = (field: TcpSockField) => ({why: `tcp_sock.${field}: no place`})
    const inconclusive = fakeKernel(() => ({srtt_us: nowhere('srtt_us'), mdev_us: nowhere('mdev_us'), bytes_acked: nowhere('bytes_acked'), bytes_received: nowhere('bytes_received')}))
    await expect(calibrateTcpSock(context(cache.answers()), ['srtt_us'], inconclusive)).rejects.toThrow(NotSupportedError)
    await expect(calibrateTcpSock(context(cache.answers()), ['srtt_us'], inconclusive)).rejects.toThrow(NotSupportedError)
    expect(inconclusive.measured).toBe(2)

    const failed = fakeKernel(() => {
      throw new BackendError('taking down the tcp_sock calibration: detach kprobe')
    })
    await expect(calibrateTcpSock(context(cache.answers()), ['srtt_us'], failed)).rejects.toThrow(BackendError)
    expect(cache.saved.size).toBe(0)
  })

  it('keeps nothing that BTF contradicts, and checks the cached offsets against BTF too', async () => {
    const cache = new MemoryCache()
    const contradicted = fakeKernel(FOUND, {srtt_us: 1496, bytes_acked: 1440})
    await expect(calibrateTcpSock(context(cache.answers()), ['srtt_us'], contradicted)).resolves.toEqual({offsets: {srtt_us: 1496}, cached: false})
    expect(cache.saved.size).toBe(0)
    await expect(calibrateTcpSock(context(cache.answers()), ['bytes_acked'], contradicted)).rejects.toThrow(/bytes_acked calibrated at 1432, BTF says 1440/)

    const agreeing = fakeKernel(FOUND, {srtt_us: 1496})
    await calibrateTcpSock(context(cache.answers()), ['srtt_us'], agreeing)
    const otherBtf = fakeKernel(FOUND, {srtt_us: 1500})
    await expect(calibrateTcpSock(context(cache.answers()), ['srtt_us'], otherBtf)).rejects.toThrow(/srtt_us calibrated at 1496, BTF says 1500/)
    expect(otherBtf.measured).toBe(0)
  })

  it('keeps the fields found when another is not: a run that needs only those takes them', async () => {
    const cache = new MemoryCache()
    const kernel = fakeKernel(() => findTcpSockOffsets(dumps({...ADJACENT, ackedDecoys: [2000]})))
    await expect(calibrateTcpSock(context(cache.answers()), ['bytes_acked', 'bytes_received'], kernel)).rejects.toThrow(NotSupportedError)
    expect(cache.saved.has('tcp_sock.bytes_acked')).toBe(false)
    expect(await calibrateTcpSock(context(cache.answers()), ['srtt_us'], kernel)).toEqual({offsets: {srtt_us: 1496}, cached: true})
    await expect(calibrateTcpSock(context(cache.answers()), ['bytes_acked', 'bytes_received'], kernel)).rejects.toThrow(NotSupportedError)
    expect(kernel.measured).toBe(2)
  })
})
