import {existsSync, readFileSync, statSync} from 'node:fs'

import {execa} from 'execa'
import {describe, expect, it} from 'vitest'

import {ElfError, ElfSymbols} from '../../src/symbols/elf.js'
import {KernelSymbols} from '../../src/symbols/kallsyms.js'
import {parseMaps} from '../../src/symbols/process-maps.js'
import {Symbolizer, UNKNOWN} from '../../src/symbols/symbolizer.js'
import {parseTraceLine} from '../../backends/ftrace/trace-pipe.js'
import {StackTraceLines} from '../../backends/ftrace/switch-stream.js'
import {stackKey, stackOfKey, withoutTracerFrames} from '../../src/symbols/stacks.js'
import {MemoryFiles} from '../helpers/memory-files.js'
import {OFFCPU_WORKLOAD, SPIN_WORKLOAD} from '../helpers/workload.js'

const KALLSYMS = `ffffffff81000000 T _text
ffffffff81000000 T startup_64
ffffffff81c3a2d0 T schedule
ffffffff81c39890 t __schedule
ffffffff82a00000 D some_data
ffffffff81c3a400 T do_nanosleep
ffffffffc0401000 t virtblk_probe\t[virtio_blk]
0000000000000000 A fixed_percpu_data
`

describe('kernel symbols from kallsyms', () => {
  const symbols = KernelSymbols.parse(KALLSYMS)

  it('names an address by the text symbol at or below it, data symbols and absolute ones left out', () => {
    expect(symbols.lookup(0xffffffff81c3a2d0n)).toBe('schedule')
    expect(symbols.lookup(0xffffffff81c3a2d0n + 0x40n)).toBe('schedule')
    expect(symbols.lookup(0xffffffff81c398a0n)).toBe('__schedule') // out of order in the file
    expect(symbols.lookup(0xffffffff82a00010n)).toBe('do_nanosleep') // no data symbol
    expect(symbols.lookup(0xffffffffc0401010n)).toBe('virtblk_probe [virtio_blk]')
    expect(symbols.lookup(0x1000n)).toBeUndefined()
  })

  it('gives a frame with its offset into the function, as the kernel prints stacks (tcpdrop)', () => {
    expect(symbols.lookupWithOffset(0xffffffff81c3a2d0n)).toBe('schedule+0x0')
    expect(symbols.lookupWithOffset(0xffffffff81c3a2d0n + 0x9cn)).toBe('schedule+0x9c')
    expect(symbols.lookupWithOffset(0xffffffffc0401010n)).toBe('virtblk_probe+0x10 [virtio_blk]')
    expect(symbols.lookupWithOffset(0x1000n)).toBeUndefined()
    expect([symbols.has('schedule'), symbols.has('some_data'), symbols.has('tcp_drop')]).toEqual([true, false, false])
  })

  it('knows nothing when the addresses are hidden (kptr_restrict, not root)', () => {
    expect(KernelSymbols.parse(KALLSYMS.replace(/^[0-9a-f]{16}/gm, '0000000000000000')).size).toBe(0)
  })

  it.skipIf(!existsSync('/proc/kallsyms'))('reads this kernel\'s own kallsyms', async () => {
    const text = readFileSync('/proc/kallsyms', 'utf8')
    const line = text.split('\n').find((l) => / T schedule$/.test(l))
    if (!line || /^0+ /.test(line)) return // addresses hidden from this user
    const symbolizer = new Symbolizer({read: async () => text} as unknown as MemoryFiles)
    expect(await symbolizer.kernelFrame(BigInt(`0x${line.split(' ')[0]}`) + 1n)).toBe('schedule')
  })
})

describe.skipIf(!existsSync(OFFCPU_WORKLOAD))('user symbols from ELF symbol tables (the diag-offcpu workload)', () => {
  it('names its functions from .symtab, as nm does', async () => {
    const elf = ElfSymbols.read(OFFCPU_WORKLOAD)
    expect(elf.table).toBe('.symtab')
    const nm = (await execa('nm', [OFFCPU_WORKLOAD])).stdout
    for (const name of ['main', 'sleep_in_nanosleep']) {
      const address = parseInt(new RegExp(`^([0-9a-f]+) [Tt] ${name}$`, 'm').exec(nm)![1], 16)
      expect(elf.functionAt(address)?.name).toBe(name)
      expect(elf.functionAt(address + 4)?.name).toBe(name)
    }
  })

  it('turns a live address into the function through the mapping and the load bias', async () => {
    const nm = (await execa('nm', [OFFCPU_WORKLOAD])).stdout
    const sleeper = parseInt(/^([0-9a-f]+) T sleep_in_nanosleep$/m.exec(nm)![1], 16)
    const files = new MemoryFiles()
    // Loaded at 0x555555554000 (a PIE), its code segment mapped from file offset 0x1000.
    const base = 0x555555554000
    const inode = statSync(OFFCPU_WORKLOAD).ino
    files.files.set('/proc/42/maps', [
      `555555554000-555555555000 r--p 00000000 fe:01 ${inode} ${OFFCPU_WORKLOAD}`,
      `555555555000-555555556000 r-xp 00001000 fe:01 ${inode} ${OFFCPU_WORKLOAD}`,
      '7ffff7fc1000-7ffff7fc3000 r-xp 00000000 00:00 0 [vdso]',
    ].join('\n'))
    const symbolizer = new Symbolizer(files)
    expect(await symbolizer.remember(42)).toBe(true)
    expect(await symbolizer.userFrame(42, base + sleeper + 8)).toBe('sleep_in_nanosleep')
    // No symbol covers the last bytes of the code segment's page; still named by file and offset.
    expect(await symbolizer.userFrame(42, 0x555555555ff0)).toBe('diag-offcpu+0x1ff0')
    expect(await symbolizer.userFrame(42, 0x7ffff7fc1010)).toBe('[vdso]+0x10')
    expect(await symbolizer.userFrame(42, 0x1234)).toBe(UNKNOWN)
    // Its maps gone (it exited), the frames read while it lived keep their names.
    files.files.set('/proc/42/maps', '')
    expect(await symbolizer.remember(42)).toBe(false)
    expect(await symbolizer.userFrame(42, base + sleeper)).toBe('sleep_in_nanosleep')
    expect(await symbolizer.userFrame(43, base + sleeper)).toBe(UNKNOWN)
  })

  // A process in a container maps its own file of the same path: diag's file of that name is
  // another one (another inode), whose names would be wrong. Its frames stay file and offset.
  it('never names a frame from another file at the same path (a container\'s own copy)', async () => {
    const nm = (await execa('nm', [OFFCPU_WORKLOAD])).stdout
    const sleeper = parseInt(/^([0-9a-f]+) T sleep_in_nanosleep$/m.exec(nm)![1], 16)
    const files = new MemoryFiles()
    const otherInode = statSync(OFFCPU_WORKLOAD).ino + 1
    files.files.set('/proc/44/maps', `555555555000-555555556000 r-xp 00001000 fe:01 ${otherInode} ${OFFCPU_WORKLOAD}`)
    const symbolizer = new Symbolizer(files)
    expect(await symbolizer.remember(44)).toBe(true)
    const fileOffset = sleeper + 8 - 0x1000 + 0x1000
    expect(await symbolizer.userFrame(44, 0x555555554000 + sleeper + 8)).toBe(`diag-offcpu+0x${fileOffset.toString(16)}`)
  })

  it('refuses what is not ELF', () => {
    expect(() => ElfSymbols.read('/proc/self/status')).toThrow(ElfError)
  })
})

// A process that execs keeps its pid: a shell, or diag's gate, becomes the program it runs.
describe.skipIf(!existsSync(OFFCPU_WORKLOAD) || !existsSync(SPIN_WORKLOAD))('a process that execs (its maps read before and after)', () => {
  const symbolOf = async (file: string, name: string) => parseInt(new RegExp(`^([0-9a-f]+) T ${name}$`, 'm').exec((await execa('nm', [file])).stdout)![1], 16)
  // Each program's code segment mapped from file offset 0x1000, as the linker lays them out.
  const image = (file: string, base: number) => {
    const inode = statSync(file).ino
    const at = (offset: number) => (base + offset).toString(16)
    return [`${at(0)}-${at(0x1000)} r--p 00000000 fe:01 ${inode} ${file}`, `${at(0x1000)}-${at(0x2000)} r-xp 00001000 fe:01 ${inode} ${file}`].join('\n')
  }

  it('names each stack from the program it was taken in: by its comm, else by the one mapping the address', async () => {
    const [sleeper, burner] = [await symbolOf(OFFCPU_WORKLOAD, 'sleep_in_nanosleep'), await symbolOf(SPIN_WORKLOAD, 'burn_cpu')]
    const [before, after] = [0x555555554000, 0x565656560000]
    const files = new MemoryFiles()
    let program = 'fe:01:1'
    const symbolizer = new Symbolizer(files, {programOf: () => program})
    files.files.set('/proc/42/maps', image(OFFCPU_WORKLOAD, before))
    files.files.set('/proc/42/status', 'Name:\tdiag-offcpu\nUid:\t0\t0\t0\t0\n')
    expect(await symbolizer.remember(42)).toBe(true)
    expect(symbolizer.execedSince(42)).toBe(false)
    // The exec: another program in the same pid.
    program = 'fe:01:2'
    files.files.set('/proc/42/maps', image(SPIN_WORKLOAD, after))
    files.files.set('/proc/42/status', 'Name:\tdiag-spin\nUid:\t0\t0\t0\t0\n')
    expect(symbolizer.execedSince(42)).toBe(true)
    expect(await symbolizer.remember(42)).toBe(true)
    expect(symbolizer.execedSince(42)).toBe(false)
    // Read again, the same program replaces its own image.
    expect(await symbolizer.remember(42)).toBe(true)
    expect(await symbolizer.userFrame(42, after + burner, 'diag-spin')).toBe('burn_cpu')
    expect(await symbolizer.userFrame(42, before + sleeper, 'diag-offcpu')).toBe('sleep_in_nanosleep')
    // A thread of a name of its own: the program that maps the address.
    expect(await symbolizer.userFrame(42, before + sleeper, 'worker')).toBe('sleep_in_nanosleep')
    expect(await symbolizer.userFrame(42, after + burner, 'worker')).toBe('burn_cpu')
    // No comm: the latest program.
    expect(await symbolizer.userFrame(42, after + burner)).toBe('burn_cpu')
  })

  // Where /proc/1/exe is hidden from diag (EACCES: init in a container, a security module), as on
  // the development VMs; elsewhere this only checks that pid 1 is read as any other.
  it('a process whose program diag may not look at (EACCES) has its maps read as any other', async () => {
    const files = new MemoryFiles()
    files.files.set('/proc/1/maps', image(OFFCPU_WORKLOAD, 0x555555554000))
    const symbolizer = new Symbolizer(files)
    expect(await symbolizer.remember(1)).toBe(true)
    expect(symbolizer.execedSince(1)).toBe(false)
  })
})

describe('process maps', () => {
  it('keeps executable mappings, with their offsets and paths (spaces included)', () => {
    const maps = parseMaps(`00400000-00401000 r-xp 00001000 08:01 12 /opt/my app/bin
00600000-00601000 rw-p 00000000 08:01 12 /opt/my app/bin
7f0000000000-7f0000001000 r-xp 00000000 00:00 0 `)
    expect(maps.filter((m) => m.executable)).toEqual([
      {start: 0x400000, end: 0x401000, offset: 0x1000, device: '08:01', inode: 12, path: '/opt/my app/bin', executable: true},
      {start: 0x7f0000000000, end: 0x7f0000001000, offset: 0, device: '00:00', inode: 0, path: '', executable: true},
    ])
    expect(maps).toHaveLength(3)
  })
})

describe('offcputime stacks', () => {
  it('folds comm, user frames and kernel frames outermost first, and marks where the kernel frames start', () => {
    expect(stackOfKey(stackKey('app', ['leaf', 'main'], ['__schedule', 'schedule', 'do_syscall_64']), 7)).toEqual({
      frames: ['app', 'main', 'leaf', 'do_syscall_64', 'schedule', '__schedule'],
      kernelFrom: 3,
      value: 7,
    })
    // --kernel-only: the kernel frames right after the comm; --user-only: none.
    expect(stackOfKey(stackKey('app', [], ['schedule']), 1).kernelFrom).toBe(1)
    expect(stackOfKey(stackKey('app', ['main'], []), 1)).toEqual({frames: ['app', 'main'], kernelFrom: 2, value: 1})
  })

  it('drops the tracer\'s own frames on top of a kernel stack, never the whole stack', () => {
    expect(withoutTracerFrames(['bpf_prog_0ad5aa56b4af50e8_sched_switch', 'bpf_trace_run4', '__schedule', 'schedule'])).toEqual(['__schedule', 'schedule'])
    expect(withoutTracerFrames(['trace_event_raw_event_sched_switch', '__traceiter_sched_switch', '__schedule'])).toEqual(['__schedule'])
    expect(withoutTracerFrames(['bpf_trace_run4'])).toEqual(['bpf_trace_run4'])
  })
})

describe('offcputime from sched_switch lines with their stack traces (the ftrace backend)', () => {
  // As trace_pipe prints them on 6.1, a stack trace after each switch, in the task switching out.
  const PIPE = `     diag-offcpu-4242    [001] d..2.   100.000000: sched_switch: prev_comm=diag-offcpu prev_pid=4242 prev_prio=9 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
     diag-offcpu-4242    [001] d..2.   100.000002: <stack trace>
 => trace_event_raw_event_sched_switch
 => __schedule
 => schedule
 => do_nanosleep+0x8c/0x140
 => hrtimer_nanosleep
 => do_syscall_64
 => entry_SYSCALL_64_after_hwframe
          <idle>-0       [000] d..2.   100.004000: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=other next_pid=77 next_prio=120
          <idle>-0       [000] d..2.   100.004001: <stack trace>
 => __schedule
 => schedule_idle
           other-77      [000] d..2.   100.005000: sched_switch: prev_comm=other prev_pid=77 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120
           other-77      [000] d..2.   100.005001: <stack trace>
 => __schedule
 => schedule
          <idle>-0       [001] d..2.   100.010000: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=diag-offcpu next_pid=4242 next_prio=9
          <idle>-0       [000] d..2.   100.020000: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=other next_pid=77 next_prio=120
`

  const feed = (lines: StackTraceLines) => {
    for (const text of PIPE.split('\n')) {
      const line = parseTraceLine(text)
      if (line) lines.line(line)
      else lines.other(text)
    }
    return [...lines.pairing.take()].map(([key, us]) => stackOfKey(key, us)).map((s) => [s.frames.join(';'), Math.round(s.value)])
  }

  it('sums each task from switch-out to switch-in under the stack it blocked in, outermost first, without the tracer\'s frames', () => {
    expect(feed(new StackTraceLines({minBlockUs: 1, perPid: false, stacks: 'both'}))).toEqual([
      ['diag-offcpu;entry_SYSCALL_64_after_hwframe;do_syscall_64;hrtimer_nanosleep;do_nanosleep;schedule;__schedule', 10_000],
      ['other;schedule;__schedule', 15_000],
    ])
  })

  it('counts only the traced process, blocks of --min-block or more, and names the process with --per-pid', () => {
    expect(feed(new StackTraceLines({minBlockUs: 1, perPid: true, stacks: 'both'}, [4242])).map(([f]) => f)).toEqual([
      'diag-offcpu-4242;entry_SYSCALL_64_after_hwframe;do_syscall_64;hrtimer_nanosleep;do_nanosleep;schedule;__schedule',
    ])
    expect(feed(new StackTraceLines({minBlockUs: 12_000, perPid: false, stacks: 'both'})).map(([f]) => f)).toEqual(['other;schedule;__schedule'])
  })

  // The 6.18 VM records no switch out of its second CPU's idle task: the task is next seen
  // switching out again, and its wakeup is the end of the block it was in.
  it('ends a block at the wakeup when the switch back in was not recorded; without a wakeup, the block is lost', () => {
    const SLEEPS = `     diag-offcpu-4242    [001] d..2.   100.000000: sched_switch: prev_comm=diag-offcpu prev_pid=4242 prev_prio=9 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
     diag-offcpu-4242    [001] d..2.   100.000002: <stack trace>
 => __schedule
 => schedule
 => do_nanosleep
          <idle>-0       [001] dNh2.   100.010000: sched_wakeup: comm=diag-offcpu pid=4242 prio=9 target_cpu=001
     diag-offcpu-4242    [001] d..2.   100.010100: sched_switch: prev_comm=diag-offcpu prev_pid=4242 prev_prio=9 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
     diag-offcpu-4242    [001] d..2.   100.010102: <stack trace>
 => __schedule
 => schedule
 => do_nanosleep
     diag-offcpu-4242    [001] d..2.   100.030000: sched_switch: prev_comm=diag-offcpu prev_pid=4242 prev_prio=9 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
`
    const lines = new StackTraceLines({minBlockUs: 1, perPid: false, stacks: 'both'}, [4242])
    const {pairing} = lines
    for (const text of SLEEPS.split('\n')) {
      const line = parseTraceLine(text)
      if (line) lines.line(line)
      else lines.other(text)
    }
    expect([...pairing.take()].map(([key, us]) => stackOfKey(key, us)).map((s) => [s.frames.join(';'), Math.round(s.value)])).toEqual([
      ['diag-offcpu;do_nanosleep;schedule;__schedule', 10_000],
    ])
    expect(pairing.endedAtWakeup).toBe(1)
    expect(pairing.dropped).toBe(1)
  })
})
