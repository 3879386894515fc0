import {describe, expect, it} from 'vitest'

import type {BpfTool} from '../../backends/bpf/bpf-tool.js'
import {stackCountsCollector} from '../../backends/bpf/stack-counts.js'
import {familyOf, layoutFlameGraph, renderFlameGraph} from '../../src/render/flamegraph.js'
import {combineAll} from '../../src/result/kinds/index.js'
import {renderFolded, type Stacks} from '../../src/result/kinds/stacks.js'
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
