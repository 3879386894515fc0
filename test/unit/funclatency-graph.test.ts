import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, afterEach, beforeEach, describe, expect, it} from 'vitest'

import type {RunContext} from '../../backends/runner.js'
import {BusyError} from '../../src/errors.js'
import type {Histograms} from '../../src/result/model.js'
import {NodeFiles} from '../../src/system/files.js'
import {UndoLog} from '../../src/system/undo.js'
import type {FunclatencyOptions} from '../../tools/funclatency/tool.js'

// The top level of a tracefs as a 6.1 kernel shows it, where function_graph has no instances:
// plain files, so that what diag changes and restores can be read back.
const TOP_LEVEL: Record<string, string> = {
  current_tracer: 'nop\n',
  available_tracers: 'function_graph function nop\n',
  function_profile_enabled: '0\n',
  set_ftrace_filter: '#### all functions enabled ####\n',
  set_graph_function: '#### all functions enabled ####\n',
  set_ftrace_pid: 'no pid\n',
  set_ftrace_notrace_pid: 'no pid\n',
  tracing_on: '1\n',
  tracing_thresh: '0\n',
  'options/funcgraph-duration': '1\n',
  'options/funcgraph-cpu': '1\n',
  'options/funcgraph-proc': '1\n',
  'options/funcgraph-abstime': '0\n',
  'options/funcgraph-tail': '0\n',
  'options/latency-format': '0\n',
  'options/function-fork': '0\n',
  'per_cpu/cpu0/stats': 'entries: 0\noverrun: 0\ncommit overrun: 0\ndropped events: 0\n',
  trace_pipe: [
    ' 0)   0.853 us    |  vfs_read();',
    ' 1)               |  vfs_read() {',
    ' 0)   3.100 us    |  vfs_read();',
    ' 1) + 12.345 us   |  } /* vfs_read */',
    '',
  ].join('\n'),
}

// diag's locks (the function profiler's, which this backend takes too) go here: the lock module
// reads the directory once, when it loads.
const LOCKS = mkdtempSync(path.join(tmpdir(), 'diag-graph-locks-'))
process.env.DIAG_LOCK_DIR = LOCKS

describe('funclatency on function_graph at the top level (no function_graph in instances, as on 4.9 and 6.1)', () => {
  afterAll(() => rmSync(LOCKS, {recursive: true, force: true}))
  let root: string
  let tracefs: string
  const read = (file: string) => readFileSync(path.join(tracefs, file), 'utf8').trim()

  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'diag-graph-'))
    tracefs = path.join(root, 'tracing')
    mkdirSync(path.join(tracefs, 'instances'), {recursive: true})
    for (const [file, text] of Object.entries(TOP_LEVEL)) {
      mkdirSync(path.dirname(path.join(tracefs, file)), {recursive: true})
      writeFileSync(path.join(tracefs, file), text)
    }
  })
  afterEach(() => rmSync(root, {recursive: true, force: true}))

  async function start(undo: UndoLog) {
    const {graph} = await import('../../tools/funclatency/ftrace.js')
    const ctx: RunContext<FunclatencyOptions> = {
      options: {pattern: 'vfs_read', unit: 'nsecs'},
      probe: {tracefs} as RunContext<FunclatencyOptions>['probe'],
      files: new NodeFiles(),
      undo,
      pid: 4242,
      targetPid: 777,
      functions: ['vfs_read'],
      signal: new AbortController().signal,
    }
    return graph.start(ctx)
  }

  it('times each call from the durations, and restores every top-level file it changed', async () => {
    const undo = new UndoLog()
    const collector = await start(undo)
    expect(read('current_tracer')).toBe('function_graph')
    expect(read('set_ftrace_filter')).toBe('vfs_read')
    expect(read('set_ftrace_pid')).toBe('777')
    expect(read('options/funcgraph-tail')).toBe('1')
    expect(read('options/funcgraph-proc')).toBe('0')
    const data = (await collector.collect()) as Histograms
    expect(data.labelKey).toBe('function')
    expect(data.histograms.map((h) => [h.label, h.count])).toEqual([['vfs_read', 3]])
    // 853 ns in [512, 1023], 3100 in [2048, 4095], 12345 in [8192, 16383].
    expect(data.histograms[0].buckets.filter((b) => b.count).map((b) => b.low)).toEqual([512, 2048, 8192])
    await collector.stop!()
    expect(await undo.unwind()).toEqual([])
    expect(read('current_tracer')).toBe('nop')
    expect(read('set_ftrace_filter')).toBe('')
    expect(read('set_ftrace_pid')).toBe('')
    expect(read('tracing_on')).toBe('1')
    for (const option of ['funcgraph-tail', 'funcgraph-proc', 'function-fork']) expect(read(`options/${option}`), option).toBe(TOP_LEVEL[`options/${option}`].trim())
    expect(existsSync(path.join(LOCKS, 'function-profiler.lock'))).toBe(false)
  })

  it('refuses a top level another tool is tracing with, changing nothing', async () => {
    writeFileSync(path.join(tracefs, 'current_tracer'), 'function\n')
    const undo = new UndoLog()
    await expect(start(undo)).rejects.toBeInstanceOf(BusyError)
    expect(await undo.unwind()).toEqual([])
    for (const [file, text] of Object.entries(TOP_LEVEL)) if (file !== 'current_tracer') expect(read(file), file).toBe(text.trim())
    expect(existsSync(path.join(LOCKS, 'function-profiler.lock'))).toBe(false)
  })
})
