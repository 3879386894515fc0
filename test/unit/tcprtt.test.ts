import {describe, expect, it} from 'vitest'

import {hostLabel} from '../../tools/tcprtt/bpf.js'
import {portFilter, probeSample} from '../../tools/tcprtt/ftrace.js'
import {tcprtt} from '../../tools/tcprtt/tool.js'
import {RecordRoundTrip, TCP_PROBE_6, TCP_PROBE_OLD, sockaddr} from '../helpers/event-records.js'

describe('tcprtt', () => {
  it('reads the remote address and srtt of tcp_probe records (trace_pipe_raw), new and old formats', () => {
    const events = new RecordRoundTrip({'tcp/tcp_probe': {text: TCP_PROBE_6, fields: ['daddr', 'srtt']}})
    const probe = (daddr: Uint8Array, srtt: number) => probeSample(events.event('tcp/tcp_probe', 0, 1, {saddr: sockaddr([127, 0, 0, 1], 40045), daddr, srtt, family: daddr[0]}))
    // 6.x, as on the 6.18 host: an IPv4 socket's sockaddr_in, an IPv6 one's sockaddr_in6
    expect(probe(sockaddr([127, 0, 0, 1], 54746), 12)).toEqual({host: '127.0.0.1', srttUs: 12})
    expect(probe(sockaddr([...Array(15).fill(0), 1], 33118), 7)).toEqual({host: '::1', srttUs: 7})
    // an IPv4-mapped peer of an IPv6 socket
    expect(probe(sockaddr([...Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1], 41000), 2048)).toEqual({host: '::ffff:127.0.0.1', srttUs: 2048})
    // a family the kernel does not fill in: the array stays zeroed
    expect(probe(new Uint8Array(28), 1)).toBeUndefined()
    // no family field, the arrays' lengths as the source wrote them
    const old = new RecordRoundTrip({'tcp/tcp_probe': {text: TCP_PROBE_OLD, fields: ['daddr', 'srtt']}})
    const event = old.event('tcp/tcp_probe', 0, 1, {daddr: sockaddr([10, 1, 2, 3], 80), srtt: 300, snd_wnd: 43690})
    expect(event.fields.daddr).toHaveLength(28)
    expect(probeSample(event)).toEqual({host: '10.1.2.3', srttUs: 300})
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
