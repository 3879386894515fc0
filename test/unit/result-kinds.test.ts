import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {type Histogram, type Histograms, percentileBucket, percentileLine, renderHistogram} from '../../src/result/kinds/histograms.js'
import {KINDS, type KindName} from '../../src/result/kinds/index.js'
import {type Row, type RowColumn, type Rows, renderRow, renderRowsHeader, rowLine, summaryLine} from '../../src/result/kinds/rows.js'
import type {Stacks} from '../../src/result/kinds/stacks.js'
import {type Table, renderTable} from '../../src/result/kinds/table.js'
import type {Counts, Profile} from '../../src/result/model.js'
import {log2Histogram} from '../../src/result/normalize.js'
import {renderData} from '../../src/render/result.js'
import {schemaFiles} from '../../src/result/schema.js'
import {parseExpression} from '../../src/runbook/expression.js'
import {checkExpression, evaluate} from '../../src/runbook/metrics.js'
import {fakeResult} from '../helpers/results.js'
import {schemaErrors} from '../helpers/schema.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

describe('the result schemas', () => {
  it.for(Object.keys(schemaFiles()))('%s is what the output kinds generate (npm run build:schema)', (file) => {
    expect(readFileSync(path.join(ROOT, file), 'utf8')).toBe(schemaFiles()[file])
  })

  it('has a definition for every kind', () => {
    const schema = JSON.parse(schemaFiles()['schema/result.schema.json'])
    expect(Object.keys(schema.definitions)).toEqual(expect.arrayContaining(Object.keys(KINDS)))
  })
})

describe('percentiles of log2 histograms', () => {
  // Counts per bucket [0,1] [2,3] [4,7] ... [512,1023], 5867 in all; counted up to each bucket:
  // 3 43 223 1173 3573 5373 5793 5853 5865 5867. p50 is the 2933.5th sample: in [16,31]; p90 the
  // 5280.3rd: in [32,63]; p99 the 5808.33rd: past 5793, in [128,255]; the maximum in [512,1023].
  const SPREAD = [3, 40, 180, 950, 2400, 1800, 420, 60, 12, 2]
  const spread = log2Histogram(null, new Map(SPREAD.map((count, slot) => [slot, count])))

  it('gives the bucket each percentile falls in', () => {
    expect(spread.percentiles).toEqual({p50: {low: 16, high: 31}, p90: {low: 32, high: 63}, p99: {low: 128, high: 255}, max: {low: 512, high: 1023}})
    expect(percentileLine(spread, 'usecs')).toBe('p50 <= 31  p90 <= 63  p99 <= 255  max <= 1023 usecs (log2 buckets: up to 2x)')
  })

  it('counts a percentile whose rank is reached exactly in the bucket that reaches it', () => {
    // 90 in [0,1], 9 in [8,15], 1 in [1024,2047]: the 90th sample is the last of bucket 0, the 99th of [8,15].
    const histogram = log2Histogram(null, new Map([[0, 90], [3, 9], [10, 1]]))
    expect(histogram.percentiles).toEqual({p50: {low: 0, high: 1}, p90: {low: 0, high: 1}, p99: {low: 8, high: 15}, max: {low: 1024, high: 2047}})
  })

  it('has no percentile for an empty histogram, and prints no line for it', () => {
    for (const empty of [log2Histogram(null, new Map()), log2Histogram(null, new Map([[3, 0]]))]) {
      expect(empty.percentiles).toEqual({p50: null, p90: null, p99: null, max: null})
      expect(percentileLine(empty, 'usecs')).toBeUndefined()
      expect(renderHistogram(empty, 'usecs')).toEqual([expect.stringContaining('distribution'), '(no events)'])
    }
  })

  it('puts every percentile in the one bucket that holds samples', () => {
    const one = log2Histogram(null, new Map([[5, 7]]))
    expect(one.buckets).toHaveLength(6)
    expect(one.percentiles).toEqual({p50: {low: 32, high: 63}, p90: {low: 32, high: 63}, p99: {low: 32, high: 63}, max: {low: 32, high: 63}})
    const single = log2Histogram(null, new Map([[2, 1]]))
    expect(single.percentiles?.p50).toEqual({low: 4, high: 7})
  })

  it('all in bucket 0: every percentile is at most 1', () => {
    const zero = log2Histogram(null, new Map([[0, 10]]))
    expect(zero.percentiles).toEqual({p50: {low: 0, high: 1}, p90: {low: 0, high: 1}, p99: {low: 0, high: 1}, max: {low: 0, high: 1}})
    expect(renderHistogram(zero, 'nsecs').at(-1)).toBe('p50 <= 1  p90 <= 1  p99 <= 1  max <= 1 nsecs (log2 buckets: up to 2x)')
  })

  it('prints the line under each histogram, after its buckets', () => {
    const lines = renderHistogram(spread, 'usecs')
    expect(lines).toHaveLength(1 + SPREAD.length + 1)
    expect(lines.at(-1)).toBe('p50 <= 31  p90 <= 63  p99 <= 255  max <= 1023 usecs (log2 buckets: up to 2x)')
  })

  it('recomputes them when intervals combine', () => {
    const data = (h: Histogram): Histograms => ({kind: 'histograms', unit: 'usecs', labelKey: null, histograms: [h]})
    const later = log2Histogram(null, new Map([[12, 10_000]]))
    const combined = KINDS.histograms.combine(data(spread), data(later))
    expect(combined.histograms[0].count).toBe(15_867)
    // 15867 samples: the first 5867 are under 1024, the rest in [4096,8191]: p50 (7933.5th) is there.
    expect(combined.histograms[0].percentiles).toEqual({p50: {low: 4096, high: 8191}, p90: {low: 4096, high: 8191}, p99: {low: 4096, high: 8191}, max: {low: 4096, high: 8191}})
  })

  it("is what a runbook's p99 and max measure (one computation)", () => {
    const histogram = log2Histogram(null, new Map([[0, 90], [3, 9], [10, 1]]))
    const result = fakeResult('runqlat', {kind: 'histograms', unit: 'usecs', labelKey: null, histograms: [histogram]})
    const measured = (text: string) => evaluate(parseExpression(text), result).measured[0].value
    // A runbook compares the bucket's upper edge (high + 1), in nanoseconds.
    expect(measured('p99 < 1ms')).toBe((histogram.percentiles!.p99!.high + 1) * 1000)
    expect(measured('max < 1ms')).toBe((histogram.percentiles!.max!.high + 1) * 1000)
    expect(percentileBucket(histogram, 99)).toEqual({low: 8, high: 15, count: 9})
  })

  it('validate against the result schema', () => {
    expect(schemaErrors('result', fakeResult('runqlat', {kind: 'histograms', unit: 'usecs', labelKey: null, histograms: [spread, log2Histogram(null, new Map())]}))).toBe('')
  })
})

// gethostlatency's columns, as bcc prints them: TIME PID COMM LATms HOST.
const COLUMNS: RowColumn[] = [
  {name: 'time', title: 'TIME', type: 'string', width: 8},
  {name: 'pid', title: 'PID', type: 'integer'},
  {name: 'comm', title: 'COMM', type: 'string', width: 16},
  {name: 'latMs', title: 'LATms', type: 'time', unit: 'ms'},
  {name: 'host', title: 'HOST', type: 'string'},
]
const LOOKUP = {time: '10:01:02', pid: 4242, comm: 'curl', latMs: 12.5, host: 'localhost'}

describe('rows', () => {
  it('prints a header of titles padded to the column widths, then a row a line under it', () => {
    expect(renderRowsHeader(COLUMNS)).toBe('TIME         PID COMM                  LATms HOST')
    expect(renderRow(COLUMNS, LOOKUP)).toBe('10:01:02    4242 curl                  12.50 localhost')
    // A missing or null value prints as "-"; a value wider than its column pushes the next along.
    expect(renderRow(COLUMNS, {...LOOKUP, comm: 'a-very-long-command-name', latMs: null, host: undefined as never})).toBe(
      '10:01:02    4242 a-very-long-command-name          - -',
    )
    expect(renderRowsHeader(COLUMNS, {terminal: true, color: true, width: 80})).toBe('\u001B[1mTIME         PID COMM                  LATms HOST\u001B[0m')
  })

  it('leaves a JSON-only column out of text (the row keeps it for JSON)', () => {
    const columns: RowColumn[] = [COLUMNS[0], {name: 'start', title: 'START', type: 'clock', jsonOnly: true}, ...COLUMNS.slice(1)]
    const row = {...LOOKUP, start: '2026-11-27T10:01:01.000Z'}
    expect(renderRowsHeader(columns)).toBe(renderRowsHeader(COLUMNS))
    expect(renderRow(columns, row)).toBe(renderRow(COLUMNS, LOOKUP))
    expect(rowLine(row)).toMatchObject({start: '2026-11-27T10:01:01.000Z'})
  })

  it('renders a whole result as the stream printed it: the header, then the rows', () => {
    const data: Rows = {kind: 'rows', columns: COLUMNS, rows: [LOOKUP, {...LOOKUP, pid: 7, host: 'example.org'}]}
    expect(renderData(data)).toEqual([renderRowsHeader(COLUMNS), renderRow(COLUMNS, data.rows[0]), renderRow(COLUMNS, data.rows[1])])
  })

  it('concatenates rows when intervals combine', () => {
    const a: Rows = {kind: 'rows', columns: COLUMNS, rows: [LOOKUP]}
    const b: Rows = {kind: 'rows', columns: COLUMNS, rows: [{...LOOKUP, pid: 7}]}
    expect(KINDS.rows.combine(a, b).rows.map((r) => r.pid)).toEqual([4242, 7])
  })

  it('prints NDJSON lines that the stream schema accepts: a row each, then the summary without rows', () => {
    const data: Rows = {kind: 'rows', columns: COLUMNS, rows: [LOOKUP, {...LOOKUP, pid: 7}]}
    const result = fakeResult('gethostlatency', data, {lost: 0})
    expect(schemaErrors('result', result)).toBe('')
    const lines = [...data.rows.map(rowLine), summaryLine(result)].map((line) => JSON.parse(JSON.stringify(line)))
    for (const line of lines) expect(schemaErrors('resultStream', line)).toBe('')
    expect(lines[0]).toEqual({type: 'row', ...LOOKUP})
    expect(lines[2]).toMatchObject({type: 'summary', tool: 'gethostlatency', lost: 0, rowCount: 2, intervals: [{data: {kind: 'rows', columns: COLUMNS, rows: []}}]})
    expect(schemaErrors('resultStream', {type: 'row', pid: {nested: true}})).not.toBe('')
    expect(schemaErrors('resultStream', {...lines[2], rowCount: undefined})).not.toBe('')
  })
})

describe('table', () => {
  // tcptop: keys PID COMM, values RX_KB TX_KB.
  const tcptop = (rows: Row[]): Table => ({
    kind: 'table',
    keys: [
      {name: 'pid', title: 'PID', type: 'integer'},
      {name: 'comm', title: 'COMM', type: 'string', width: 12},
    ],
    values: [
      {name: 'rxKb', title: 'RX_KB', type: 'integer'},
      {name: 'txKb', title: 'TX_KB', type: 'integer'},
    ],
    sortBy: 'rxKb',
    rows,
  })
  const table = tcptop([
    {pid: 10, comm: 'sshd', rxKb: 5, txKb: 900},
    {pid: 20, comm: 'curl', rxKb: 300, txKb: 1},
    {pid: 30, comm: 'nginx', rxKb: 40, txKb: 40},
  ])

  it('prints the rows largest first by its sort column, or by another one asked for', () => {
    expect(renderTable(table)).toEqual([
      '    PID COMM           RX_KB   TX_KB',
      '     20 curl             300       1',
      '     30 nginx             40      40',
      '     10 sshd               5     900',
    ])
    expect(renderTable(table, undefined, 'txKb').slice(1).map((l) => l.trim().split(/\s+/)[1])).toEqual(['sshd', 'nginx', 'curl'])
    expect(() => renderTable(table, undefined, 'comm')).toThrow(/comm is not a value column of this table \(rxKb, txKb\)/)
    expect(renderTable(tcptop([]))).toEqual(['(no events)'])
  })

  it('adds values by key when intervals combine, and sorts again', () => {
    const later = tcptop([
      {pid: 10, comm: 'sshd', rxKb: 1000, txKb: 1},
      {pid: 40, comm: 'dig', rxKb: 1, txKb: 1},
    ])
    expect(KINDS.table.combine(table, later).rows).toEqual([
      {pid: 10, comm: 'sshd', rxKb: 1005, txKb: 901},
      {pid: 20, comm: 'curl', rxKb: 300, txKb: 1},
      {pid: 30, comm: 'nginx', rxKb: 40, txKb: 40},
      {pid: 40, comm: 'dig', rxKb: 1, txKb: 1},
    ])
    expect(schemaErrors('result', fakeResult('tcptop', table))).toBe('')
  })

  it('prints its caption above the header, and keeps the later one when intervals combine', () => {
    const first = {...table, caption: 'loadavg: 0.10 0.20 0.30 1/100 1000'}
    const second = {...tcptop([]), caption: 'loadavg: 0.40 0.50 0.60 2/200 2000'}
    expect(renderTable(first)[0]).toBe('loadavg: 0.10 0.20 0.30 1/100 1000')
    expect(renderTable(first)[1]).toMatch(/^\s+PID COMM/)
    expect(renderTable(second)).toEqual(['loadavg: 0.40 0.50 0.60 2/200 2000', '(no events)'])
    expect(KINDS.table.combine(first, second).caption).toBe(second.caption)
    expect(KINDS.table.combine(first, tcptop([])).caption).toBe(first.caption)
    expect(schemaErrors('result', fakeResult('tcptop', first))).toBe('')
    expect(schemaErrors('result', fakeResult('tcptop', {...first, caption: 7} as unknown as Table))).not.toBe('')
  })
})

describe('stacks', () => {
  const data: Stacks = {
    kind: 'stacks',
    unit: 'usecs',
    stacks: [
      {frames: ['main', 'read', 'vfs_read'], value: 10},
      {frames: ['main', 'write'], value: 30},
    ],
  }

  it('prints folded stacks, largest first', () => {
    expect(renderData(data)).toEqual(['main;write 30', 'main;read;vfs_read 10'])
    expect(renderData({...data, stacks: []})).toEqual(['(no events)'])
  })

  it('prints a summary of the largest stacks at a terminal, a frame a line, innermost first', () => {
    const terminal = {terminal: true, color: false, width: 30}
    expect(renderData(data, terminal)).toEqual([
      'The 2 largest of 2 stacks (40 usecs in all):',
      '',
      '30 usecs (75.0%)  main',
      '    write',
      '',
      '10 usecs (25.0%)  main',
      '    vfs_read',
      '    read',
      '',
      'Every stack folded: the same command into a pipe or file; --svg FILE draws a flame graph; --json gives frame lists.',
    ])
    // Only the largest ten, frames cut at the terminal's width.
    const many: Stacks = {...data, stacks: Array.from({length: 12}, (_, i) => ({frames: ['app', `a_function_with_a_long_name_${i}`], value: i + 1}))}
    const lines = renderData(many, terminal)
    expect(lines[0]).toBe('The 10 largest of 12 stacks (78 usecs in all):')
    expect(lines.filter((l) => / usecs \(/.test(l))).toHaveLength(10)
    expect(lines[2]).toBe('12 usecs (15.4%)  app')
    expect(lines[3]).toBe('    a_function_with_a_long_na…')
    // An off-wake stack: the blocked task's frames, then its waker's, as they come.
    const offwake: Stacks = {...data, stacks: [{frames: ['app', 'main', 'read', 'schedule', '--', 'try_to_wake_up', 'write', 'waker'], wakerFrom: 4, value: 5}]}
    expect(renderData(offwake, {...terminal, width: 80}).slice(2, 11)).toEqual(['5 usecs (100.0%)  app', '    schedule', '    read', '    main', '    -- woken by --', '    try_to_wake_up', '    write', '    waker', ''])
  })

  it('adds values by stack when intervals combine', () => {
    const later: Stacks = {...data, stacks: [{frames: ['main', 'read', 'vfs_read'], value: 25}, {frames: ['idle'], value: 1}]}
    expect(KINDS.stacks.combine(data, later).stacks).toEqual([
      {frames: ['main', 'read', 'vfs_read'], value: 35},
      {frames: ['main', 'write'], value: 30},
      {frames: ['idle'], value: 1},
    ])
    expect(schemaErrors('result', fakeResult('offcputime', data))).toBe('')
  })

  it('keeps the same frames split differently between user and kernel apart when intervals combine', () => {
    const split = (kernelFrom: number, value: number) => ({frames: ['app', 'main', 'schedule'], kernelFrom, value})
    const earlier: Stacks = {...data, stacks: [split(2, 5)]}
    expect(KINDS.stacks.combine(earlier, {...data, stacks: [split(2, 1), split(1, 4)]}).stacks).toEqual([split(2, 6), split(1, 4)])
    expect(schemaErrors('result', fakeResult('offcputime', earlier))).toBe('')
    expect(schemaErrors('result', fakeResult('offcputime', {...earlier, stacks: [split(-1, 5)]}))).toMatch(/kernelFrom/)
  })
})

describe('combining the intervals of the existing kinds', () => {
  it('adds counts by key, largest first', () => {
    const a: Counts = {kind: 'counts', key: 'syscall', rows: [{key: 'read', count: 5}, {key: 'close', count: 2}]}
    const b: Counts = {kind: 'counts', key: 'syscall', rows: [{key: 'close', count: 9}, {key: 'openat', count: 1}]}
    expect(KINDS.counts.combine(a, b).rows).toEqual([{key: 'close', count: 11}, {key: 'read', count: 5}, {key: 'openat', count: 1}])
  })

  it('adds histograms bucket by bucket, per label', () => {
    const a: Histograms = {kind: 'histograms', unit: 'usecs', labelKey: 'disk', histograms: [log2Histogram('vda', new Map([[1, 2]])), log2Histogram('vdb', new Map([[0, 1]]))]}
    const b: Histograms = {kind: 'histograms', unit: 'usecs', labelKey: 'disk', histograms: [log2Histogram('vda', new Map([[3, 4]]))]}
    const [vda, vdb] = KINDS.histograms.combine(a, b).histograms
    expect(vda.buckets.map((x) => x.count)).toEqual([0, 2, 0, 4])
    expect(vda.count).toBe(6)
    expect(vdb.count).toBe(1)
  })

  it('adds profile hits and time, and pools the sample variance', () => {
    // Durations 1 and 3 us (mean 2, s^2 2), then 5 us: all three have mean 3 and s^2 ((4 + 0 + 4) / 2) = 4.
    const a: Profile = {kind: 'profile', rows: [{function: 'f', hits: 2, totalUs: 4, avgUs: 2, varianceUs2: 2}]}
    const b: Profile = {kind: 'profile', rows: [{function: 'f', hits: 1, totalUs: 5, avgUs: 5, varianceUs2: 0}, {function: 'g', hits: 1, totalUs: 1, avgUs: 1, varianceUs2: 0}]}
    const combined = KINDS.profile.combine(a, b).rows
    expect(combined[0]).toMatchObject({function: 'f', hits: 3, totalUs: 9, avgUs: 3})
    expect(combined[0].varianceUs2).toBeCloseTo(4, 10)
    expect(combined[1]).toEqual({function: 'g', hits: 1, totalUs: 1, avgUs: 1, varianceUs2: 0})
  })
})

describe('runbook metrics of the new kinds', () => {
  const check = (text: string, kind: KindName) => () => checkExpression(parseExpression(text), text, kind)

  it('counts the rows of a rows tool and checks lost on every kind, as each kind says', () => {
    expect(check('count > 0 and rows > 0 and lost == 0', 'rows')).not.toThrow()
    for (const kind of Object.keys(KINDS) as KindName[]) expect(check('lost == 0', kind)).not.toThrow()
    const result = fakeResult('gethostlatency', {kind: 'rows', columns: COLUMNS, rows: [LOOKUP, LOOKUP, LOOKUP]})
    expect(evaluate(parseExpression('count == 3'), result)).toMatchObject({verdict: 'pass', measured: [{value: 3, text: 'count = 3'}]})
  })

  it('refuses a metric a kind does not give, saying why', () => {
    expect(check('p99 < 1ms', 'rows')).toThrow(/p99 needs a histogram; this tool gives rows/)
    expect(check('count > 0', 'stacks')).toThrow(/count does not apply to stacks results/)
    expect(check('rows > 0', 'table')).toThrow(/rows does not apply to table results/)
  })
})
