import {isIP} from 'node:net'

import {describe, expect, it} from 'vitest'

import {formatIp} from '../../src/net/address.js'

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
