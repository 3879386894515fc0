import {describe, expect, it} from 'vitest'

import {parsePerfScript} from '../../backends/perf/perf-script.js'
import type {BpfTool} from '../../backends/bpf/bpf-tool.js'
import {decodeStackKey, stackCountsCollector} from '../../backends/bpf/stack-counts.js'
import type {Stacks} from '../../src/result/kinds/stacks.js'
import {UndoLog} from '../../src/system/undo.js'
import {MemoryFiles} from '../helpers/memory-files.js'
import {parseCpuList} from '../../src/system/cpus.js'
import {stacksOf} from '../../src/symbols/stacks.js'
import {foldSamples} from '../../tools/profile/perf.js'

// As perf 6.1's `perf script -F comm,pid,ip,sym` prints samples of `perf record -g`: a kernel
// sample of a kernel thread, user samples (one with a comm holding a space, one unnamed frame
// printed relative to its file), a sample of an idle CPU, and a warning line.
const SCRIPT = `diag-spin 4242 
	    55d5c0b1a1b9 burn_cpu
	    55d5c0b1a0c5 main
	    7f230c029d90 __libc_start_call_main

diag-spin 4242 
	ffffffff81b94ccc clear_page_erms
	ffffffff81ceecb2 do_anonymous_page
	ffffffff81f00010 asm_exc_page_fault
	    55d5c0b1a1b9 burn_cpu
	    55d5c0b1a0c5 main
	               0 [unknown]

Web Content 77 
	           aeef5 [unknown]
	    559830c2aaf1 
	    559830123456
	    559830c2aaf0 js::RunScript

kworker/1:2H-kb 27608 
	ffffffff81380cec process_one_work
	ffffffff81381892 worker_thread
	ffffffff81389ae8 kthread

swapper 0 
	ffffffff81c3c2a0 default_idle

Warning: some samples were lost
diag-spin 4242 
	    55d5c0b1a1b9 burn_cpu
	    55d5c0b1a0c5 main
	    7f230c029d90 __libc_start_call_main
`

describe('perf script samples (the perf backend of profile)', () => {
  it('reads each sample: comm (spaces and all), process id, frames innermost first', () => {
    const samples = parsePerfScript(SCRIPT)
    expect(samples.map((s) => [s.comm, s.pid, s.frames.length])).toEqual([
      ['diag-spin', 4242, 3],
      ['diag-spin', 4242, 6],
      ['Web Content', 77, 4],
      ['kworker/1:2H-kb', 27608, 3],
      ['swapper', 0, 1],
      ['diag-spin', 4242, 3],
    ])
    expect(samples[1].frames[0]).toEqual({address: 0xffffffff81b94cccn, symbol: 'clear_page_erms'})
    expect(samples[2].frames[0]).toEqual({address: 0xaeef5n, symbol: '[unknown]'})
  })

  it('folds samples as the BPF backend does: comm, user frames, kernel frames, outermost first; idle left out', () => {
    const folded = stacksOf(foldSamples(parsePerfScript(SCRIPT), {stacks: 'both', perPid: false}), 'samples')
    expect(folded.unit).toBe('samples')
    expect(folded.stacks.map((s) => `${s.frames.join(';')} ${s.value}`).sort()).toEqual([
      'Web Content;js::RunScript;[unknown];[unknown];[unknown] 1',
      'diag-spin;__libc_start_call_main;main;burn_cpu 2',
      'diag-spin;main;burn_cpu;asm_exc_page_fault;do_anonymous_page;clear_page_erms 1',
      'kworker/1:2H-kb;kthread;worker_thread;process_one_work 1',
    ])
  })

  it('keeps only the stacks asked for, and processes apart with --per-pid', () => {
    const samples = parsePerfScript(SCRIPT)
    const kernel = stacksOf(foldSamples(samples, {stacks: 'kernel', perPid: true}), 'samples').stacks.map((s) => s.frames.join(';'))
    expect(kernel).toContain('diag-spin-4242')
    expect(kernel).toContain('diag-spin-4242;asm_exc_page_fault;do_anonymous_page;clear_page_erms')
    const user = stacksOf(foldSamples(samples, {stacks: 'user', perPid: false}), 'samples').stacks
    expect(user.find((s) => s.frames.join(';') === 'diag-spin;main;burn_cpu')?.value).toBe(1)
    expect(user.find((s) => s.frames.join(';') === 'kworker/1:2H-kb')?.value).toBe(1)
  })
})

describe('the CPUs to sample', () => {
  it('reads kernel CPU lists', () => {
    expect(parseCpuList('0-1\n')).toEqual([0, 1])
    expect(parseCpuList('0,2-4,7')).toEqual([0, 2, 3, 4, 7])
    expect(parseCpuList('0')).toEqual([0])
    expect(() => parseCpuList('zero')).toThrow(/not a CPU list/)
  })
})

describe('stack keys (bpf/stacks.h struct stack_key)', () => {
  it('decodes ids, stack ids (negative errnos too) and the comm', () => {
    const key = Buffer.alloc(32)
    key.writeUInt32LE(11, 0)
    key.writeUInt32LE(10, 4)
    key.writeInt32LE(-14, 8)
    key.writeInt32LE(5, 12)
    key.write('diag-spin', 16)
    expect(decodeStackKey(key)).toEqual({pid: 11, tgid: 10, userStack: -14, kernelStack: 5, comm: 'diag-spin'})
  })
})

describe('stacks of the BPF backends, named (stack-counts.ts)', () => {
  // One stack key (pid/tgid 4242, user stack 1, kernel stack 2, comm "app") and its stacks.
  const key = Buffer.alloc(32)
  key.writeUInt32LE(4242, 0)
  key.writeUInt32LE(4242, 4)
  key.writeInt32LE(1, 8)
  key.writeInt32LE(2, 12)
  key.write('app', 16)
  const stack = (...addresses: bigint[]) => {
    const value = Buffer.alloc(8 * 127)
    addresses.forEach((a, i) => value.writeBigUInt64LE(a, i * 8))
    return value
  }
  const stacks = new Map([
    // Innermost first: a [vdso] frame, anonymous memory no JIT map names, memory no mapping holds, main's caller.
    [1, stack(0x7ffff7fc1010n, 0x7f0000000100n, 0x1234n, 0x7ffff7fc1020n)],
    // schedule, then an address below every kernel symbol.
    [2, stack(0xffffffff81c3a2d8n, 0xffffffff80000010n)],
  ])
  const count = Buffer.alloc(8)
  count.writeBigUInt64LE(5n)
  const bpf = {
    attachments: [],
    lookup: (_map: string, id: Buffer) => stacks.get(id.readUInt32LE(0)),
    entries: (map: string) => (map === 'samples' ? [[key, count]] : []),
    lost: async () => 0,
  } as unknown as BpfTool

  it('keeps every frame: an unnamed one is [unknown] or module+0xOFFSET, never dropped', async () => {
    const files = new MemoryFiles()
    files.files.set('/proc/kallsyms', 'ffffffff81c3a2d0 T schedule\n')
    files.files.set('/proc/4242/maps', ['7f0000000000-7f0000001000 r-xp 00000000 00:00 0 ', '7ffff7fc1000-7ffff7fc3000 r-xp 00000000 00:00 0 [vdso]'].join('\n'))
    const undo = new UndoLog()
    const collector = stackCountsCollector(bpf, {stacks: 'both', perPid: false}, {map: 'samples', unit: 'samples', divisor: 1}, files, undo)
    const result = (await collector.collect()) as Stacks
    await collector.stop?.()
    expect(result.stacks).toEqual([
      {frames: ['app', '[vdso]+0x20', '[unknown]', '[unknown]', '[vdso]+0x10', '[unknown]', 'schedule'], kernelFrom: 5, value: 5},
    ])
  })
})
