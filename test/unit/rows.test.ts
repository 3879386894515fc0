import {describe, expect, it} from 'vitest'

import {type Collector, RowQueue, type RowStream, type Runner} from '../../backends/runner.js'
import type {HostProbe} from '../../src/probe/probe.js'
import {renderRow, renderRowsHeader} from '../../src/render/result.js'
import {rowLine, summaryLine} from '../../src/result/kinds/rows.js'
import {parseSavedResult} from '../../src/result/saved.js'
import type {Row, RowColumn, Rows, ToolResult} from '../../src/result/model.js'
import {type SessionHost, runTool} from '../../src/run.js'
import {UndoLog} from '../../src/system/undo.js'
import {COLUMNS, type GethostlatencyOptions} from '../../tools/gethostlatency/tool.js'
import {MemoryFiles} from '../helpers/memory-files.js'
import {schemaErrors} from '../helpers/schema.js'

const ROW: Row = {time: '2026-11-27T09:36:51.794Z', pid: 371, comm: 'diag-lookups', latMs: 0.335, host: 'localhost'}
const OPTIONS: GethostlatencyOptions = {libc: {path: '/lib/libc.so.6', source: 'test', functions: [{name: 'getaddrinfo', offset: 0x1000n}]}}

describe('rows as text', () => {
  it("prints bcc's columns: the local time of day, fixed widths, milliseconds to 2 places, the host unpadded", () => {
    const clock = new Date(ROW.time as string).toTimeString().slice(0, 8)
    expect(renderRowsHeader(COLUMNS)).toBe('TIME         PID COMM                  LATms HOST')
    expect(renderRow(COLUMNS, ROW)).toBe(`${clock}     371 diag-lookups           0.34 localhost`)
    expect(renderRow(COLUMNS, {...ROW, host: null})).toBe(`${clock}     371 diag-lookups           0.34 -`)
  })
})

describe('a frames column (a kernel stack, tcpdrop)', () => {
  const columns: RowColumn[] = [
    {name: 'pid', title: 'PID', type: 'integer'},
    {name: 'reason', title: 'REASON', type: 'string'},
    {name: 'stack', title: 'STACK', type: 'frames'},
  ]

  it('prints its frames a line each under the row, indented, and leaves it out of the header', () => {
    expect(renderRowsHeader(columns)).toBe('    PID REASON')
    expect(renderRow(columns, {pid: 7, reason: 'NO_SOCKET', stack: ['tcp_v4_rcv+0x91', 'ip_protocol_deliver_rcu+0x28']})).toBe(
      '      7 NO_SOCKET\n        tcp_v4_rcv+0x91\n        ip_protocol_deliver_rcu+0x28\n',
    )
    expect(renderRow(columns, {pid: 7, reason: null, stack: null})).toBe('      7 -\n        -\n')
  })

  it('is a list of strings in the JSON, which the schemas take', () => {
    const row = {pid: 7, reason: 'NO_SOCKET', stack: ['tcp_v4_rcv+0x91']}
    expect(schemaErrors('resultStream', rowLine(row))).toBe('')
    expect(schemaErrors('resultStream', rowLine({...row, stack: [1 as unknown as string]}))).not.toBe('')
  })
})

describe('a streaming collector in the session', () => {
  /** A runner whose collector pushes `batches` of rows: one during start, the rest once released. */
  function streamingRunner(batches: Row[][], events: string[]): Runner<GethostlatencyOptions> {
    return {
      async start(): Promise<Collector & RowStream> {
        const queue = new RowQueue()
        queue.push(...batches[0])
        events.push('started')
        setTimeout(() => batches.slice(1).forEach((b) => queue.push(...b)), 5)
        return {
          attach: 'fake uprobes',
          onRows: (emit) => queue.onRows(emit),
          collect: async () => ({kind: 'rows', columns: COLUMNS, rows: []}),
          lost: async () => 0,
        }
      },
    }
  }

  it('hands every row on as it comes, after the start; the interval keeps them, the summary line their count', async () => {
    const events: string[] = []
    const host: Partial<SessionHost> = {
      probe: async (options) => {
        const capabilities = (options.only ?? []).map((name) => ({name, section: 'tracefs' as const, description: name, minKernel: null, status: 'available' as const, evidence: 'probe' as const, detail: 'fake'}))
        return {kernel: null, config: null, hostRoot: '/', live: true, capabilities, tracefs: '/t', cleanupFailures: []} satisfies HostProbe
      },
      loadRunner: async () => streamingRunner([[ROW], [ROW, ROW], [ROW]], events) as Runner<unknown>,
      files: new MemoryFiles(),
    }
    const result: ToolResult = await runTool('gethostlatency', OPTIONS, {duration: 0.05, json: true, backend: 'ftrace-uprobe-events'}, {
      undo: new UndoLog(),
      signal: new AbortController().signal,
      host,
      onStart: () => events.push('header'),
      onRows: (_, rows) => events.push(`rows ${rows.length}`),
    })
    // The row made during start waits for the header; the others follow in their batches.
    expect(events).toEqual(['started', 'header', 'rows 1', 'rows 2', 'rows 1'])
    expect(result.intervals.map((i) => (i.data as Rows).rows.length)).toEqual([4])
    expect(schemaErrors('result', result)).toBe('')
    const summary = summaryLine(result)
    expect(summary.rowCount).toBe(4)
    expect(schemaErrors('resultStream', summary)).toBe('')
    // What --json printed reads back (diag show, runbook steps) with its rows where they were.
    const ndjson = [...(result.intervals[0].data as Rows).rows.map((r) => JSON.stringify(rowLine(r))), JSON.stringify(summary)].join('\n')
    expect(parseSavedResult(ndjson)).toEqual(result)
  })
})

describe('RowQueue', () => {
  // A BPF buffer's poll hands over every record it read at once: far more than a call takes arguments.
  it('keeps a batch of 500,000 rows made before the session listens, in order', () => {
    const queue = new RowQueue()
    const batch = Array.from({length: 500_000}, (_, i) => ({i}))
    queue.pushAll(batch)
    const seen: number[] = []
    queue.onRows((rows) => rows.forEach((row) => seen.push(row.i as number)))
    expect(seen.length).toBe(500_000)
    expect(seen[499_999]).toBe(499_999)
  })
})
