import {describe, expect, it} from 'vitest'

import {hostLabel} from '../../tools/tcprtt/bpf.js'
import {parseProbeLine, portFilter} from '../../tools/tcprtt/ftrace.js'
import {tcprtt} from '../../tools/tcprtt/tool.js'

describe('tcprtt', () => {
  it('reads the remote address and srtt of tcp_probe lines, old and new formats', () => {
    // 6.x, from the 6.18 host
    expect(parseProbeLine('family=AF_INET src=127.0.0.1:40045 dest=127.0.0.1:54746 mark=0x0 data_len=0 snd_nxt=0x1 snd_una=0x1 snd_cwnd=10 ssthresh=2147483647 snd_wnd=65483 srtt=12 rcv_wnd=65536 sock_cookie=3 skbaddr=0 skaddr=0')).toEqual({host: '127.0.0.1', srttUs: 12})
    expect(parseProbeLine('family=AF_INET6 src=[::1]:40725 dest=[::1]:33118 mark=0x0 data_len=1000 snd_nxt=0x1 snd_una=0x1 snd_cwnd=10 ssthresh=2147483647 snd_wnd=65483 srtt=7 rcv_wnd=65536 sock_cookie=4')).toEqual({host: '::1', srttUs: 7})
    // 4.16-4.19: no family=, length= for data_len; an IPv4-mapped peer of an IPv6 socket
    expect(parseProbeLine('src=[::ffff:127.0.0.1]:80 dest=[::ffff:127.0.0.1]:41000 mark=0x0 length=0 snd_nxt=0x1 snd_una=0x1 snd_cwnd=10 ssthresh=7 snd_wnd=43690 srtt=2048 rcv_wnd=43690')).toEqual({host: '::ffff:127.0.0.1', srttUs: 2048})
    expect(parseProbeLine('family=AF_INET src=1.2.3.4:1 dest=nonsense:2 srtt=1')).toBeUndefined()
  })

  it('filters by port with numbers only, and not at all without ports', () => {
    expect(portFilter({})).toBeUndefined()
    expect(portFilter({lport: 80})).toBe('sport == 80')
    expect(portFilter({rport: 443})).toBe('dport == 443')
    expect(portFilter({lport: 80, rport: 41000})).toBe('sport == 80 && dport == 41000')
  })

  it('labels a BPF key by its family: IPv4, IPv6, none for the total', () => {
    const key = (addr: number[], family: number) => {
      const b = Buffer.alloc(24)
      Buffer.from(addr).copy(b)
      b.writeUInt16LE(family, 16)
      return b
    }
    expect(hostLabel(key([127, 0, 0, 1], 2))).toBe('127.0.0.1')
    expect(hostLabel(key([...Array(15).fill(0), 1], 10))).toBe('::1')
    expect(hostLabel(key([], 0))).toBeNull()
  })

  it('routes --by-host past the hist trigger, which cannot key by address', () => {
    const hist = tcprtt.candidates.find((c) => c.id === 'ftrace-hist')!
    expect(hist.accepts!({unit: 'usecs', byHost: true})).toHaveLength(1)
    expect(hist.accepts!({unit: 'usecs', byHost: false})).toEqual([])
  })
})
