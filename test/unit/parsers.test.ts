import {describe, expect, it} from 'vitest'

import {parseProfiler} from '../../backends/ftrace/function-profiler.js'
import {parseHist} from '../../backends/ftrace/hist.js'
import {parseTraceLine} from '../../backends/ftrace/trace-pipe.js'
import {IntervalBlocks} from '../../backends/perf/perf-stat.js'
import {Deltas} from '../../src/result/deltas.js'
import {TaskCounts} from '../../src/result/task-counts.js'
import {countsFrom, log2Histogram, log2Slot} from '../../src/result/normalize.js'
import {requestStartEvent} from '../../src/tracefs/block-events.js'
import {parseEventFormat} from '../../src/tracefs/format.js'
import {MemoryFiles} from '../helpers/memory-files.js'

describe('trace_pipe lines', () => {
  it('reads event lines of 6.x, with the flags column', () => {
    expect(parseTraceLine('            bash-15696   [000] .....  2355.141045: sys_enter: NR 33 (b, 1, 55d3d1d8e9bc, 0, 7, b)')).toEqual({
      comm: 'bash',
      pid: 15696,
      cpu: 0,
      timestamp: 2355.141045,
      event: 'sys_enter',
      body: 'NR 33 (b, 1, 55d3d1d8e9bc, 0, 7, b)',
    })
  })
  it('reads comms with spaces and dashes, and old kernels without flags', () => {
    expect(parseTraceLine('   kworker/u4:1-ev-77    [001]  1.000001: sched_switch: prev_comm=a')).toMatchObject({comm: 'kworker/u4:1-ev', pid: 77})
    expect(parseTraceLine('  Web Content-3141  [001] d..2. 10.5: sched_wakeup: comm=x pid=1')).toMatchObject({comm: 'Web Content', pid: 3141, cpu: 1})
  })
  it('reads the thread group where the instance records it (record-tgid)', () => {
    expect(parseTraceLine('  diag-workload-4242    (   4240) [001] ..... 10.5: sys_enter: NR 110 (0)')).toMatchObject({pid: 4242, tgid: 4240, event: 'sys_enter'})
    expect(parseTraceLine('  kworker-77    (-------) [001] ..... 10.5: sys_enter: NR 1 (0)')).toMatchObject({pid: 77, tgid: undefined})
  })
  it('reads function tracer lines, which have no event name', () => {
    expect(parseTraceLine('    cat-5000  [000] ...1.  77.000100: vfs_read <-ksys_read')).toMatchObject({event: 'function', body: 'vfs_read <-ksys_read'})
  })
  it('ignores headers', () => {
    expect(parseTraceLine('# tracer: nop')).toBeUndefined()
    expect(parseTraceLine('')).toBeUndefined()
  })
})

describe('block requests', () => {
  it('--queued starts at block_io_start where the kernel has it, else at block_rq_insert', async () => {
    const files = new MemoryFiles()
    expect(await requestStartEvent(files, '/t', false)).toBe('block/block_rq_issue')
    expect(await requestStartEvent(files, '/t', true)).toBe('block/block_rq_insert')
    files.files.set('/t/events/block/block_io_start/format', 'name: block_io_start\n')
    expect(await requestStartEvent(files, '/t', true)).toBe('block/block_io_start')
    expect(await requestStartEvent(files, '/t', false)).toBe('block/block_rq_issue')
  })
})

describe('hist files', () => {
  it('reads syscall, execname and numeric keys and the dropped count', () => {
    const hist = parseHist(`# event histogram
#
# trigger info: hist:keys=id.syscall:vals=hitcount:sort=hitcount:size=2048 [active]
#

{ id: sys_getppid                   [110] } hitcount:       2000
{ common_pid: bash            [      1234] } hitcount:         12
{ dev:  265289728, lat:         12 } hitcount:          3

Totals:
    Hits: 2015
    Entries: 3
    Dropped: 7
`)
    expect(hist.dropped).toBe(7)
    expect(hist.entries).toEqual([
      {keys: {id: {number: 110, text: 'sys_getppid'}}, hitcount: 2000},
      {keys: {common_pid: {number: 1234, text: 'bash'}}, hitcount: 12},
      {keys: {dev: {number: 265289728, text: '265289728'}, lat: {number: 12, text: '12'}}, hitcount: 3},
    ])
  })
})

describe('perf stat -x, -I output', () => {
  it('adds up whole interval blocks only, and reads "<not counted>" as zero', () => {
    const blocks = new IntervalBlocks(2)
    blocks.push('Events disabled\nEvents enabled\n     0.500123,2000,,syscalls:sys_enter_getppid,5004123,100.00,,\n     0.500123,7,,sys')
    // Half a block so far: nothing to take, and no block counted.
    expect(blocks.blocks).toBe(0)
    blocks.push('calls:sys_enter_read,5004123,100.00,,\n     1.000200,<not counted>,,syscalls:sys_enter_getppid,0,100.00,,\n')
    expect(blocks.blocks).toBe(1)
    expect([...blocks.take()]).toEqual([
      ['syscalls:sys_enter_getppid', 2000],
      ['syscalls:sys_enter_read', 7],
    ])
    blocks.push('     1.000200,3,,syscalls:sys_enter_read,0,100.00,,\n     1.2,1,,syscalls:sys_enter_read,0,100.00,,\n')
    expect([...blocks.take()]).toEqual([
      ['syscalls:sys_enter_getppid', 0],
      ['syscalls:sys_enter_read', 3],
    ])
    expect([...blocks.take()]).toEqual([])
  })

  it('ends at the first whole block after "Events disabled", not at a tick block under way when disable was written', async () => {
    const blocks = new IntervalBlocks(1)
    let done = false
    const finished = blocks.nextAfterDisable(5000).then(() => (done = true))
    // A tick's block, printed before perf read the disable: the syscalls made since are not in it.
    blocks.push('     0.50,1000,,syscalls:sys_enter_getgid,0,100.00,,\n')
    await Promise.resolve()
    expect(done).toBe(false)
    // perf 6.1: the line, then at its next tick the counts up to the disable.
    blocks.push('Events disabled\n     1.00,20,,syscalls:sys_enter_getgid,0,100.00,,\n')
    await finished
    expect([...blocks.take()]).toEqual([['syscalls:sys_enter_getgid', 1020]])
  })

  it('with perf 5.10\'s order (the block, then "Events disabled"), ends at the next block, of zeros', async () => {
    const blocks = new IntervalBlocks(1)
    const finished = blocks.nextAfterDisable(5000)
    blocks.push('     0.70,20,,syscalls:sys_enter_getgid,0,100.00,,\nEvents disabled\n     1.00,<not counted>,,syscalls:sys_enter_getgid,0,100.00,,\n')
    await finished
    expect([...blocks.take()]).toEqual([['syscalls:sys_enter_getgid', 20]])
  })

  it('falls quiet once no block has come for a while, from the call or the last block (perf after its process is gone)', async () => {
    const blocks = new IntervalBlocks(1)
    const started = Date.now()
    let done = 0
    const quiet = blocks.quiet(150, 5000).then(() => (done = Date.now()))
    // perf's one more tick comes after the call: the quiet is counted from it.
    await new Promise((resolve) => setTimeout(resolve, 100))
    blocks.push('     2.00,20,,syscalls:sys_enter_getgid,0,100.00,,\n')
    const tick = Date.now()
    await quiet
    expect(done - tick).toBeGreaterThanOrEqual(140)
    expect(done - started).toBeLessThan(1000)
    expect([...blocks.take()]).toEqual([['syscalls:sys_enter_getgid', 20]])
  })
})

describe('the function profiler', () => {
  it('sums the per-CPU tables, keeping what the variance needs', () => {
    const cpu0 = `  Function                               Hit    Time            Avg             s^2
  --------                               ---    ----            ---             ---
  vfs_read                                 2    4.000 us        2.000 us        2.000 us
`
    const cpu1 = '  vfs_read                                 2    8.000 us        4.000 us        0.000 us\n'
    const rows = parseProfiler([cpu0, cpu1])
    // durations 1, 3 on cpu0 (mean 2, s^2 2) and 4, 4 on cpu1: sum of squares 1 + 9 + 16 + 16
    expect(rows.get('vfs_read')).toEqual({hits: 4, totalUs: 12, sumSquaresUs2: 42})
  })
})

describe('event formats', () => {
  it('finds field offsets and sizes', () => {
    const format = parseEventFormat(
      'raw_syscalls/sys_enter',
      `name: sys_enter
ID: 443
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:long id;\toffset:8;\tsize:8;\tsigned:1;
\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;
`,
    )
    expect(format.id).toBe(443)
    expect(format.fields.get('id')).toEqual({type: 'long id', offset: 8, size: 8, signed: true})
    expect(format.fields.get('args')?.size).toBe(48)
  })
})

describe('normalizing', () => {
  it('puts log2 slots where the BPF programs put them', () => {
    expect([0, 1, 2, 3, 4, 7, 8, 1023, 1024].map(log2Slot)).toEqual([0, 0, 1, 1, 2, 2, 3, 9, 10])
    expect(log2Histogram(null, new Map([[2, 5]])).buckets).toEqual([
      {low: 0, high: 1, count: 0},
      {low: 2, high: 3, count: 0},
      {low: 4, high: 7, count: 5},
    ])
  })
  it('sorts counts, keeps the top, and filters', () => {
    const entries: [string, number][] = [['read', 3], ['write', 9], ['close', 3], ['open', 0]]
    expect(countsFrom('syscall', entries, 2).rows).toEqual([{key: 'write', count: 9}, {key: 'close', count: 3}])
    expect(countsFrom('syscall', entries, undefined, new Set(['read'])).rows).toEqual([{key: 'read', count: 3}])
  })
  it('turns cumulative counters into intervals', () => {
    const deltas = new Deltas()
    expect([...deltas.next(new Map([['a', 5]]))]).toEqual([['a', 5]])
    expect([...deltas.next(new Map([['a', 7], ['b', 1]]))]).toEqual([['a', 2], ['b', 1]])
  })
})

describe('TaskCounts', () => {
  it('keeps one row per task when some of its lines have no saved comm ("<...>")', () => {
    // The failure a host run showed: "diag-workload [14658]" and "<...> [14658]" as two processes.
    const counts = new TaskCounts()
    counts.add(14658, '<...>')
    for (let i = 0; i < 3; i++) counts.add(14658, 'diag-workload')
    counts.add(14658, '<...>')
    counts.add(7, '<...>')
    expect(counts.take()).toEqual(new Map([['diag-workload [14658]', 5], ['<...> [7]', 1]]))
    expect(counts.take()).toEqual(new Map())
  })
})
