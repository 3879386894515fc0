import {isIP} from 'node:net'

import {describe, expect, it} from 'vitest'

import {formatIp, sockaddrAddress} from '../../src/net/address.js'

describe('formatIp', () => {
  it('prints IPv4 dotted and IPv6 in its shortest form', () => {
    expect(formatIp(Uint8Array.of(127, 0, 0, 1))).toBe('127.0.0.1')
    expect(formatIp(new Uint8Array(16).fill(0).map((_, i) => (i === 15 ? 1 : 0)))).toBe('::1')
    expect(formatIp(new Uint8Array(16))).toBe('::')
    const doc = Uint8Array.from(Buffer.from('20010db8000000000001000000000001', 'hex'))
    expect(formatIp(doc)).toBe('2001:db8::1:0:0:1')
    expect(formatIp(Uint8Array.from(Buffer.from('00000000000000000000ffff7f000001', 'hex')))).toBe('::ffff:127.0.0.1')
    expect(formatIp(Uint8Array.from(Buffer.from('fe800000000000000000000000000001', 'hex')))).toBe('fe80::1')
    expect(isIP(formatIp(doc))).toBe(6)
  })

  it('refuses a length no address has', () => {
    expect(() => formatIp(new Uint8Array(5))).toThrow(/4 or 16 bytes/)
  })
})

describe('sockaddrAddress', () => {
  const sockaddr = (hex: string) => Uint8Array.from(Buffer.from(hex.replace(/ /g, ''), 'hex'))
  it('reads the address and port of a struct sockaddr_in or sockaddr_in6 (family little-endian, port big-endian)', () => {
    expect(sockaddrAddress(sockaddr('0200 1f90 7f000001 0000000000000000'))).toEqual({address: Uint8Array.of(127, 0, 0, 1), port: 8080})
    const v6 = sockaddrAddress(sockaddr('0a00 01bb 00000000 20010db8000000000000000000000001 00000000'))!
    expect([formatIp(v6.address), v6.port]).toEqual(['2001:db8::1', 443])
  })

  it('gives nothing for another family, a zeroed array, or too few bytes', () => {
    expect(sockaddrAddress(new Uint8Array(28))).toBeUndefined()
    expect(sockaddrAddress(sockaddr('0100 0000 00000000'))).toBeUndefined()
    expect(sockaddrAddress(sockaddr('0a00 01bb 00000000 2001'))).toBeUndefined()
    expect(sockaddrAddress(sockaddr('0200'))).toBeUndefined()
  })
})
