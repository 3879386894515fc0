import {describe, expect, it} from 'vitest'

import type {BpfTool} from '../../backends/bpf/bpf-tool.js'
import {stackCountsCollector} from '../../backends/bpf/stack-counts.js'
import {StackTraceLines} from '../../backends/ftrace/switch-stream.js'
import {parseTraceLine} from '../../backends/ftrace/trace-pipe.js'
import {parsePerfTraceScript} from '../../backends/perf/perf-script.js'
import {pairSamples} from '../../backends/perf/switch-record.js'
import {familyOf, layoutFlameGraph, renderFlameGraph} from '../../src/render/flamegraph.js'
import {combineAll} from '../../src/result/kinds/index.js'
import {renderFolded, type Stacks} from '../../src/result/kinds/stacks.js'
import {type PairingOptions, SwitchPairing} from '../../src/sched/switch-pairing.js'
import {UNKNOWN_WAKER, offWakeKey, stackOfKey} from '../../src/symbols/stacks.js'
import {UndoLog} from '../../src/system/undo.js'
import {MemoryFiles} from '../helpers/memory-files.js'
import {fakeResult} from '../helpers/results.js'
import {schemaErrors} from '../helpers/schema.js'

// A reader blocked in a pipe, woken by a writer: both stacks innermost first, as walkers give them.
const WAKEE = {user: ['__read', 'wait_for_waker', 'main'], kernel: ['__schedule', 'schedule', 'pipe_read', 'vfs_read']}
const WAKER = {first: 'writer', user: ['write', 'wake_sleeper', 'start_thread'], kernel: ['try_to_wake_up', '__wake_up_common', 'pipe_write']}

describe('off-wake stacks', () => {
  it('join the blocked frames outermost first, "--", then the waker\'s innermost first and its comm last, as bcc folds them', () => {
    const stack = stackOfKey(offWakeKey('app', WAKEE.user, WAKEE.kernel, WAKER), 42)
    expect(renderFolded({kind: 'stacks', unit: 'usecs', stacks: [stack]})).toEqual([
      'app;main;wait_for_waker;__read;vfs_read;pipe_read;schedule;__schedule;--;try_to_wake_up;__wake_up_common;pipe_write;write;wake_sleeper;start_thread;writer 42',
    ])
    expect(stack).toMatchObject({kernelFrom: 4, wakerFrom: 8, wakerUserFrom: 12, value: 42})
    expect(stack.frames[stack.wakerFrom!]).toBe('--')
  })

  it('name a waker diag did not see [unknown waker], and keep the block', () => {
    const stack = stackOfKey(offWakeKey('app', WAKEE.user, WAKEE.kernel, undefined), 5)
    expect(stack.frames.slice(-2)).toEqual(['--', UNKNOWN_WAKER])
    expect(stack).toMatchObject({wakerFrom: 8, wakerUserFrom: 9, value: 5})
  })

  it('with kernel stacks only (--kernel-only) keep the comms at both ends', () => {
    const stack = stackOfKey(offWakeKey('app', [], WAKEE.kernel, {...WAKER, user: []}), 1)
    expect(stack.frames).toEqual(['app', 'vfs_read', 'pipe_read', 'schedule', '__schedule', '--', 'try_to_wake_up', '__wake_up_common', 'pipe_write', 'writer'])
    expect(stack).toMatchObject({kernelFrom: 1, wakerFrom: 5, wakerUserFrom: 9})
  })

  it('colour each side\'s frames by whose they are, the separator apart', () => {
    const stack = stackOfKey(offWakeKey('app', WAKEE.user, WAKEE.kernel, WAKER), 1)
    const families = stack.frames.map((_, i) => familyOf(stack, i))
    expect(families).toEqual([
      ...Array(4).fill('user'), // app, main, wait_for_waker, __read
      ...Array(4).fill('kernel'),
      'separator',
      ...Array(3).fill('kernel'), // the waker's kernel frames
      ...Array(4).fill('user'), // its user frames and comm
    ])
    const svg = renderFlameGraph({kind: 'stacks', unit: 'usecs', stacks: [stack]}, {tool: 'offwaketime', host: 'h', kernel: '6.1', backend: 'bpf-tp-btf (bpf)', seconds: 1})
    expect(svg).toMatch(/<g class="f separator" data-name="--"/)
    expect(svg).toMatch(/<g class="f kernel" data-name="try_to_wake_up"/)
    expect(svg).toMatch(/<g class="f user" data-name="wake_sleeper"/)
    expect(layoutFlameGraph({kind: 'stacks', unit: 'usecs', stacks: [stack]}).depth).toBe(stack.frames.length)
  })

  it('combine across intervals by frames and both splits, and validate against the result schema', () => {
    const a = stackOfKey(offWakeKey('app', WAKEE.user, WAKEE.kernel, WAKER), 10)
    const b = stackOfKey(offWakeKey('app', WAKEE.user, WAKEE.kernel, WAKER), 5)
    const unknown = stackOfKey(offWakeKey('app', WAKEE.user, WAKEE.kernel, undefined), 3)
    const combined = combineAll([
      {kind: 'stacks', unit: 'usecs', stacks: [a, unknown]},
      {kind: 'stacks', unit: 'usecs', stacks: [b]},
    ]) as Stacks
    expect(combined.stacks.map((s) => s.value).sort()).toEqual([15, 3].sort())
    expect(schemaErrors('result', fakeResult('offwaketime', combined))).toBe('')
    expect(schemaErrors('result', fakeResult('offwaketime', {...combined, stacks: [{...a, wakerFrom: -1}]}))).toMatch(/wakerFrom/)
  })
})

// struct stack_key (bpf/stacks.h): pid, tgid, user and kernel stack ids, comm[16].
function stackKeyBytes(pid: number, userStack: number, kernelStack: number, comm: string): Buffer {
  const key = Buffer.alloc(32)
  key.writeUInt32LE(pid, 0)
  key.writeUInt32LE(pid, 4)
  key.writeInt32LE(userStack, 8)
  key.writeInt32LE(kernelStack, 12)
  key.write(comm, 16)
  return key
}

const stackBytes = (addresses: bigint[]) => {
  const value = Buffer.alloc(127 * 8)
  addresses.forEach((a, i) => value.writeBigUInt64LE(a, i * 8))
  return value
}

describe('offwaketime from the BPF maps', () => {
  it('reads struct offwake_key: the blocked task\'s stacks joined with its waker\'s, an all-zero waker unknown', async () => {
    const files = new MemoryFiles()
    files.files.set('/proc/kallsyms', ['ffffffff81000000 T schedule', 'ffffffff81001000 T pipe_read', 'ffffffff81002000 T try_to_wake_up', 'ffffffff81003000 T pipe_write', 'ffffffff81004000 T bpf_trace_run1'].join('\n'))
    const stacks = new Map([
      [1, stackBytes([0xffffffff81000010n, 0xffffffff81001010n])],
      [2, stackBytes([0xffffffff81004010n, 0xffffffff81002010n, 0xffffffff81003010n])],
    ])
    const ns = (n: number) => {
      const v = Buffer.alloc(8)
      v.writeBigUInt64LE(BigInt(n))
      return v
    }
    const woken = Buffer.concat([stackKeyBytes(10, -1, 1, 'reader'), stackKeyBytes(11, -1, 2, 'writer')])
    const unseen = Buffer.concat([stackKeyBytes(10, -1, 1, 'reader'), Buffer.alloc(32)])
    const bpf = {
      attachments: 'fake',
      entries: (map: string) => (map === 'blocked' ? [[woken, ns(7_000_000)], [unseen, ns(2_000)]] : []),
      lookup: (_map: string, key: Buffer) => stacks.get(key.readUInt32LE(0)),
      lost: () => 0,
    } as unknown as BpfTool
    const collector = stackCountsCollector(bpf, {stacks: 'kernel', perPid: false}, {map: 'blocked', unit: 'usecs', divisor: 1000, withWaker: true}, files, new UndoLog())
    const data = (await collector.collect()) as Stacks
    await collector.stop?.()
    // The waker's kernel stack loses the tracer's frame on top (bpf_trace_run1), as the blocked one's would.
    expect(renderFolded(data)).toEqual(['reader;pipe_read;schedule;--;try_to_wake_up;pipe_write;writer 7000', `reader;pipe_read;schedule;--;${UNKNOWN_WAKER} 2`])
  })
})

// perf script of sched_switch and sched_waking with call chains (-g), as the perf-record backend
// reads them: a reader blocked in a pipe, woken twice (by the writer, then by another task:
// only the first is its waker), then blocked again with no wakeup seen. A wakeup of the reader
// while it still runs (before its switch-out) is no block's.
const PERF_WAKES = `     diag-offcpu  5325/5325  [000] 100.000000000: sched:sched_waking: comm=diag-offcpu pid=5325 prio=120 target_cpu=000
	ffffffff813a0000 try_to_wake_up
	ffffffff813a1000 early_waker

     diag-offcpu  5325/5325  [000] 100.001000000: sched:sched_switch: prev_comm=diag-offcpu prev_pid=5325 prev_prio=120 prev_state=S ==> next_comm=writer next_pid=5400 next_prio=120
	ffffffff821f8298 __schedule
	ffffffff821f8c03 schedule
	ffffffff81500000 pipe_read
	ffffffff81501000 vfs_read
	           f1000 __read
	            1300 wait_for_waker
	            10c4 main
	               0 [unknown]

          writer  5400/5400  [000] 100.006000000: sched:sched_waking: comm=diag-offcpu pid=5325 prio=120 target_cpu=000
	ffffffff81390000 perf_trace_sched_wakeup_template
	ffffffff813a0000 try_to_wake_up
	ffffffff813a2000 __wake_up_common
	ffffffff81502000 pipe_write
	           f2000 write
	            1400 wake_sleeper
	           93000 start_thread

           other    77/77    [001] 100.007000000: sched:sched_waking: comm=diag-offcpu pid=5325 prio=120 target_cpu=000
	ffffffff813a0000 try_to_wake_up
	ffffffff813a3000 other_wakeup

          writer  5400/5400  [000] 100.011000000: sched:sched_switch: prev_comm=writer prev_pid=5400 prev_prio=120 prev_state=S ==> next_comm=diag-offcpu next_pid=5325 next_prio=120
	ffffffff821f8298 __schedule

     diag-offcpu  5325/5325  [000] 100.012000000: sched:sched_switch: prev_comm=diag-offcpu prev_pid=5325 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120
	ffffffff821f8298 __schedule
	ffffffff821f8c03 schedule
	ffffffff81500000 pipe_read
	           f1000 __read
	            1300 wait_for_waker

         swapper     0/0     [000] 100.017000000: sched:sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=diag-offcpu next_pid=5325 next_prio=120
	ffffffff821f8298 __schedule
`

describe('offwaketime from switches and wakeups paired in diag (perf-record, ftrace-stream)', () => {
  const options: PairingOptions = {minBlockUs: 1, perPid: false, stacks: 'both'}
  const stacksOfPairing = (pairing: SwitchPairing) => [...pairing.take()].map(([key, us]) => stackOfKey(key, Math.round(us)))
  const folded = (pairing: SwitchPairing) => renderFolded({kind: 'stacks', unit: 'usecs', stacks: stacksOfPairing(pairing)})

  it("joins each block's stacks with its first waker's, without the tracer's frames; a block with no wakeup seen gets [unknown waker]", () => {
    const pairing = new SwitchPairing(options, [5325], {wakers: true})
    pairSamples(pairing, parsePerfTraceScript(PERF_WAKES))
    expect(folded(pairing)).toEqual([
      'diag-offcpu;main;wait_for_waker;__read;vfs_read;pipe_read;schedule;__schedule;--;try_to_wake_up;__wake_up_common;pipe_write;write;wake_sleeper;start_thread;writer 10000',
      `diag-offcpu;wait_for_waker;__read;pipe_read;schedule;__schedule;--;${UNKNOWN_WAKER} 5000`,
    ])
  })

  it('splits the frames as the BPF runners do (kernelFrom, wakerFrom, wakerUserFrom)', () => {
    const pairing = new SwitchPairing(options, [5325], {wakers: true})
    pairSamples(pairing, parsePerfTraceScript(PERF_WAKES))
    const [woken, unknown] = stacksOfPairing(pairing)
    const waker = {first: 'writer', user: ['write', 'wake_sleeper', 'start_thread'], kernel: ['try_to_wake_up', '__wake_up_common', 'pipe_write']}
    expect(woken).toEqual(stackOfKey(offWakeKey('diag-offcpu', ['__read', 'wait_for_waker', 'main'], ['__schedule', 'schedule', 'pipe_read', 'vfs_read'], waker), 10_000))
    expect(unknown).toEqual(stackOfKey(offWakeKey('diag-offcpu', ['__read', 'wait_for_waker'], ['__schedule', 'schedule', 'pipe_read'], undefined), 5000))
  })

  it('--kernel-only, --user-only and --per-pid apply to the waker too', () => {
    const kernel = new SwitchPairing({...options, stacks: 'kernel'}, [5325], {wakers: true})
    pairSamples(kernel, parsePerfTraceScript(PERF_WAKES))
    expect(folded(kernel)[0]).toBe('diag-offcpu;vfs_read;pipe_read;schedule;__schedule;--;try_to_wake_up;__wake_up_common;pipe_write;writer 10000')
    const user = new SwitchPairing({...options, stacks: 'user'}, [5325], {wakers: true})
    pairSamples(user, parsePerfTraceScript(PERF_WAKES))
    expect(folded(user)[0]).toBe('diag-offcpu;main;wait_for_waker;__read;--;write;wake_sleeper;start_thread;writer 10000')
    const perPid = new SwitchPairing({...options, perPid: true}, [5325], {wakers: true})
    pairSamples(perPid, parsePerfTraceScript(PERF_WAKES))
    expect(folded(perPid)[0]).toMatch(/^diag-offcpu-5325;.*;start_thread;writer-5400 10000$/)
  })

  it('without wakers (offcputime) the same events fold to the blocked stacks alone', () => {
    const pairing = new SwitchPairing(options, [5325])
    pairSamples(pairing, parsePerfTraceScript(PERF_WAKES))
    expect(folded(pairing)).toEqual(['diag-offcpu;main;wait_for_waker;__read;vfs_read;pipe_read;schedule;__schedule 10000', 'diag-offcpu;wait_for_waker;__read;pipe_read;schedule;__schedule 5000'])
  })

  // trace_pipe with the stacktrace option: each event's stack follows it in its CPU's buffer, in
  // the task running then; another CPU's lines may come between. Both CPUs' idle tasks wake
  // someone at once (pid 0 twice): only the CPU tells their stacks apart.
  const PIPE = `     diag-offcpu-4242    [001] d..2.   100.000000: sched_switch: prev_comm=diag-offcpu prev_pid=4242 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
     diag-offcpu-4242    [001] d..2.   100.000002: <stack trace>
 => trace_event_raw_event_sched_switch
 => __schedule
 => schedule
 => pipe_read+0x1c0/0x400
          <idle>-0       [000] dNh2.   100.010000: sched_waking: comm=other pid=77 prio=120 target_cpu=000
          <idle>-0       [001] dNh2.   100.010001: sched_waking: comm=diag-offcpu pid=4242 prio=120 target_cpu=001
          <idle>-0       [000] dNh2.   100.010002: <stack trace>
 => trace_event_raw_event_sched_wakeup_template
 => try_to_wake_up
 => hrtimer_wakeup
          <idle>-0       [001] dNh2.   100.010003: <stack trace>
 => trace_event_raw_event_sched_wakeup_template
 => __traceiter_sched_waking
 => try_to_wake_up
 => __wake_up_common
 => pipe_write+0x10/0x400
          writer-4300    [000] d..2.   100.011000: sched_waking: comm=diag-offcpu pid=4242 prio=120 target_cpu=001
          writer-4300    [000] d..2.   100.011001: <stack trace>
 => try_to_wake_up
 => later_wakeup
          <idle>-0       [001] d..2.   100.020000: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=diag-offcpu next_pid=4242 next_prio=120
     diag-offcpu-4242    [001] d..2.   100.030000: sched_switch: prev_comm=diag-offcpu prev_pid=4242 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
     diag-offcpu-4242    [001] d..2.   100.030002: <stack trace>
 => __schedule
 => schedule
 => do_nanosleep
          <idle>-0       [001] d..2.   100.032000: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=diag-offcpu next_pid=4242 next_prio=120
`

  const streamPairing = (text: string, pairingOptions: PairingOptions, names?: ConstructorParameters<typeof StackTraceLines>[3]) => {
    const lines = new StackTraceLines(pairingOptions, [4242], {wakers: true}, names)
    for (const lineText of text.split('\n')) {
      const line = parseTraceLine(lineText)
      if (line) lines.line(line)
      else lines.other(lineText)
    }
    return lines.pairing
  }

  it("ftrace stream: the kernel stack after a block's first sched_waking, matched by CPU, is its waker's; ftrace's <idle> is named swapper/N as the kernel names it", () => {
    expect(folded(streamPairing(PIPE, {...options, stacks: 'kernel'}))).toEqual([
      'diag-offcpu;pipe_read;schedule;__schedule;--;try_to_wake_up;__wake_up_common;pipe_write;swapper/1 20000',
      `diag-offcpu;do_nanosleep;schedule;__schedule;--;${UNKNOWN_WAKER} 2000`,
    ])
  })

  // A waker ftrace could not name (its comm cache full) prints as "<...>": named as /proc names
  // it (here the `writer` thread of a fake), as BPF names it from the kernel.
  it('ftrace stream: a waker printed as <...> is named from /proc, not <...>', () => {
    const names = {nameOf: (tid: number) => (tid === 4300 ? 'writer' : '<...>')}
    const text = [
      '     diag-offcpu-4242    [001] d..2.   100.000000: sched_switch: prev_comm=diag-offcpu prev_pid=4242 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120',
      '     diag-offcpu-4242    [001] d..2.   100.000001: <stack trace>',
      ' => __schedule',
      ' => schedule',
      ' => pipe_read',
      '            <...>-4300    [000] d..2.   100.010000: sched_waking: comm=diag-offcpu pid=4242 prio=120 target_cpu=001',
      '            <...>-4300    [000] d..2.   100.010001: <stack trace>',
      ' => try_to_wake_up',
      ' => pipe_write',
      '          <idle>-0       [001] d..2.   100.020000: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=diag-offcpu next_pid=4242 next_prio=120',
    ].join('\n')
    expect(folded(streamPairing(text, {...options, stacks: 'kernel'}, names))).toEqual(['diag-offcpu;pipe_read;schedule;__schedule;--;try_to_wake_up;pipe_write;writer 20000'])
  })

  // PIPE's events as perf-record reads them (kernel frames only, without the tracer's): the idle
  // tasks are named swapper there, where ftrace names them <idle> and the kernel (BPF) swapper/N.
  const PIPE_AS_PERF = `     diag-offcpu  4242/4242  [001] 100.000000000: sched:sched_switch: prev_comm=diag-offcpu prev_pid=4242 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
	ffffffff821f8298 __schedule
	ffffffff821f8c03 schedule
	ffffffff81500000 pipe_read

swapper     0/0     [000] 100.010000000: sched:sched_waking: comm=other pid=77 prio=120 target_cpu=000
	ffffffff813a88b4 try_to_wake_up
	ffffffff81400000 hrtimer_wakeup

swapper     0/0     [001] 100.010001000: sched:sched_waking: comm=diag-offcpu pid=4242 prio=120 target_cpu=001
	ffffffff813a88b4 try_to_wake_up
	ffffffff813cd722 __wake_up_common
	ffffffff81502000 pipe_write

          writer  4300/4300  [000] 100.011000000: sched:sched_waking: comm=diag-offcpu pid=4242 prio=120 target_cpu=001
	ffffffff813a88b4 try_to_wake_up
	ffffffff81503000 later_wakeup

swapper     0/0     [001] 100.020000000: sched:sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=diag-offcpu next_pid=4242 next_prio=120
	ffffffff821f8298 __schedule

     diag-offcpu  4242/4242  [001] 100.030000000: sched:sched_switch: prev_comm=diag-offcpu prev_pid=4242 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
	ffffffff821f8298 __schedule
	ffffffff821f8c03 schedule
	ffffffff821ffb7e do_nanosleep

swapper     0/0     [001] 100.032000000: sched:sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=diag-offcpu next_pid=4242 next_prio=120
	ffffffff821f8298 __schedule
`

  it("perf-record names a waker that is a CPU's idle task swapper/N, N its CPU, as ftrace-stream (and BPF) do: the same stacks", () => {
    const perf = new SwitchPairing({...options, stacks: 'kernel'}, [4242], {wakers: true})
    pairSamples(perf, parsePerfTraceScript(PIPE_AS_PERF))
    const perfStacks = folded(perf)
    expect(perfStacks[0]).toMatch(/;pipe_write;swapper\/1 20000$/)
    expect(perfStacks).toEqual(folded(streamPairing(PIPE, {...options, stacks: 'kernel'})))
    // --per-pid: the idle task's process is 0, as BPF's stack key holds it
    const perPid = new SwitchPairing({...options, stacks: 'kernel', perPid: true}, [4242], {wakers: true})
    pairSamples(perPid, parsePerfTraceScript(PIPE_AS_PERF))
    expect(folded(perPid)[0]).toMatch(/^diag-offcpu-4242;.*;pipe_write;swapper\/1-0 20000$/)
  })
})
