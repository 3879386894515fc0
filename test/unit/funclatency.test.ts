import {describe, expect, it} from 'vitest'

import {kernelLog2Slot} from '../../backends/ftrace/latency-hist.js'
import {parseHist} from '../../backends/ftrace/hist.js'
import {parseGraphLine} from '../../tools/funclatency/ftrace.js'
import {log2Slot} from '../../src/result/normalize.js'

describe('function_graph lines (funclatency ftrace-function-graph)', () => {
  it('reads a leaf call with its duration in ns', () => {
    expect(parseGraphLine(' 1)   0.853 us    |  __do_sys_getppid();')).toEqual({cpu: 1, function: '__do_sys_getppid', durationNs: 853, opens: false})
  })
  it('reads the long-call marks, and durations printed with fewer decimals', () => {
    expect(parseGraphLine(' 0) + 12.345 us   |  vfs_read();')).toMatchObject({function: 'vfs_read', durationNs: 12345})
    expect(parseGraphLine(' 0) ! 153.726 us  |  vfs_read();')).toMatchObject({durationNs: 153726})
    expect(parseGraphLine(' 3) $ 1234567 us  |  } /* schedule */')).toMatchObject({cpu: 3, function: 'schedule', durationNs: 1234567000})
  })
  it('reads an opening brace and a closing one, with the name funcgraph-tail gives it or without', () => {
    expect(parseGraphLine(' 1)               |  vfs_read() {')).toEqual({cpu: 1, function: 'vfs_read', opens: true})
    expect(parseGraphLine(' 1)   2.125 us    |  } /* vfs_read */')).toEqual({cpu: 1, function: 'vfs_read', durationNs: 2125, opens: false})
    expect(parseGraphLine(' 1)   2.125 us    |  }')).toEqual({cpu: 1, function: undefined, durationNs: 2125, opens: false})
  })
  it('ignores headers, process switches, interrupt marks and event comments', () => {
    for (const line of [
      '# tracer: function_graph',
      '# CPU  DURATION                  FUNCTION CALLS',
      ' ------------------------------------------',
      ' 0)    <idle>-0    =>   diag-wo-4242',
      ' 0)   ==========> |',
      ' 0)               |  /* sys_enter: NR 110 (0, 0, 0, 0, 0, 0) */',
      '',
    ])
      expect(parseGraphLine(line), line).toBeUndefined()
  })
})

describe("a hist trigger's log2 keys (funclatency ftrace-kprobe-hist in ns)", () => {
  it('reads "~ 2^k" as the slot below, which holds every value of the kernel bucket but its top one', () => {
    const hist = parseHist('{ lat: ~ 2^10 } hitcount:          3\n{ lat: ~ 2^0  } hitcount:          1\nTotals:\n    Hits: 4\n    Entries: 2\n    Dropped: 0\n')
    expect(hist.entries.map((e) => kernelLog2Slot(e.keys.lat.text))).toEqual([9, 0])
    // The kernel's bucket 10 holds 513..1024 ns; diag's slot 9 holds 512..1023.
    for (const ns of [513, 700, 1023]) expect(log2Slot(ns)).toBe(9)
    expect(log2Slot(1024)).toBe(10)
  })
  it('refuses a key that is not a log2 one', () => {
    expect(() => kernelLog2Slot('12')).toThrow(/not a log2 hist key/)
  })
})
