import {isIP} from 'node:net'

import {describe, expect, it} from 'vitest'

import {formatIp, parseIp} from '../../src/net/address.js'

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

describe('parseIp', () => {
  it('reads the forms the kernel prints, back to the same bytes formatIp prints', () => {
    for (const text of ['127.0.0.1', '::1', '::', '2001:db8::1:0:0:1', '::ffff:127.0.0.1', 'fe80::1', '1:2:3:4:5:6:7:8'])
      expect(formatIp(parseIp(text)!)).toBe(text)
    expect(parseIp('0:0:0:0:0:0:0:1')).toEqual(parseIp('::1'))
    expect(formatIp(parseIp('FE80::A')!)).toBe('fe80::a')
  })

  it('refuses text that is not an address', () => {
    for (const text of ['', 'localhost', '1.2.3', '256.1.1.1', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '::1::', 'g::1', '1:2:3:4:5:6:7::8'])
      expect(parseIp(text), text).toBeUndefined()
  })
})
