import {describe, expect, it} from 'vitest'

import {parseHist} from '../../backends/ftrace/hist.js'
import {PAIRING_KEYS, startLatencyHist} from '../../backends/ftrace/latency-hist.js'
import {parseRingStats} from '../../backends/ftrace/trace-pipe.js'
import type {RunContext} from '../../backends/runner.js'
import type {HostProbe} from '../../src/probe/probe.js'
import {UndoLog} from '../../src/system/undo.js'
import {preemptMarker} from '../../src/tracefs/preempt-marker.js'
import {MemoryFiles} from '../helpers/memory-files.js'
import {SCHED_SWITCH_PRINT_4_9, SCHED_SWITCH_PRINT_6} from '../helpers/sched-switch-formats.js'

// Shaped as a 6.1 kernel prints an event with two hist triggers: the pairing's start table (a
// variable, no values) and a second table; each has its own totals.
const TWO_TABLES = `# event histogram
#
# trigger info: hist:keys=dev,sector:vals=hitcount:ts0=common_timestamp.usecs:sort=hitcount:size=2048 [active]
#

{ dev:  265289728, sector:       2048 } hitcount:          1
{ dev:  265289728, sector:      10240 } hitcount:          1

Totals:
    Hits: 4000
    Entries: 2048
    Dropped: 1952

# event histogram
#
# trigger info: hist:keys=common_pid.execname:vals=hitcount:sort=hitcount:size=2048 [active]
#

{ common_pid: diag-workload   [       812] } hitcount:       4000

Totals:
    Hits: 4000
    Entries: 1
    Dropped: 3
`

describe('what the kernel dropped', () => {
  it('sums the Dropped line of every table in a hist file', () => {
    expect(parseHist(TWO_TABLES).dropped).toBe(1955)
    expect(parseHist(TWO_TABLES).entries).toHaveLength(3)
  })

  it('a latency pairing sizes its tables and counts the drops of all three', async () => {
    const files = new MemoryFiles()
    const T = '/t'
    const dir = `${T}/instances/diag-4242-biolatency`
    const undo = new UndoLog()
    const ctx: RunContext<unknown> = {files, pid: 4242, undo, probe: {tracefs: T} as HostProbe, options: {}, signal: new AbortController().signal}
    const latency = await startLatencyHist(ctx, {
      purpose: 'biolatency',
      start: {event: 'block/block_rq_issue', key: 'dev,sector'},
      end: {event: 'block/block_rq_complete', key: 'dev,sector'},
    })
    const triggers = files.writes.filter((w) => w.path.endsWith('/trigger')).map((w) => w.text)
    expect(triggers).toHaveLength(3)
    for (const trigger of triggers.slice(0, 2)) expect(trigger).toContain(`:size=${PAIRING_KEYS}`)
    files.files.set(`${dir}/events/block/block_rq_issue/hist`, TWO_TABLES)
    files.files.set(`${dir}/events/block/block_rq_complete/hist`, 'Totals:\n    Hits: 5\n    Entries: 5\n    Dropped: 20\n')
    files.files.set(`${dir}/events/synthetic/diag_4242_biolatency/hist`, 'Totals:\n    Hits: 5\n    Entries: 1\n    Dropped: 100\n')
    expect(await latency.dropped()).toBe(1955 + 20 + 100)
  })
})

describe('ring buffer stats', () => {
  it('counts overruns, commit overruns and dropped events as missed, and the entries left', () => {
    const stats = `entries: 12
overrun: 1706220
commit overrun: 3
bytes: 1024
oldest event ts:  2355.141045
now ts:  2356.000000
dropped events: 5
read events: 293796
`
    expect(parseRingStats(stats)).toEqual({missed: 1706228, entries: 12})
    expect(parseRingStats('')).toEqual({missed: 0, entries: 0})
  })
})

describe("sched_switch's preempt marker, from its print format", () => {
  const v6 = SCHED_SWITCH_PRINT_6
  const v49 = SCHED_SWITCH_PRINT_4_9
  it.each([
    ['6.x', v6, 0x100],
    ['4.9', v49, 2048],
    ['no marker', 'print fmt: "prev_pid=%d", REC->prev_pid', undefined],
    ['not an integer expression', 'print fmt: "%s", REC->prev_state & foo(3) ? "+" : ""', undefined],
  ])('%s', (_, text, marker) => expect(preemptMarker(`name: sched_switch\nID: 1\n${text}\n`)).toBe(marker))
})
