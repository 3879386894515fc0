import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {NodeFiles, readTextToEnd} from '../../src/system/files.js'

// procfs files say they are empty (size 0). Node 18's fs/promises readFile then stops after its
// first read: /proc/PID/maps came back as its first 4 KiB, without the libc (the Debian Node
// test). Every kernel file diag reads must come back whole, on every Node diag supports.
describe('reading kernel files', () => {
  it('reads a procfs file larger than one read to its end', async () => {
    // BPF programs loaded meanwhile (other tests) come and go in kallsyms as "[bpf]" lines: left out.
    const steady = (text: string) => text.split('\n').filter((line) => !line.endsWith('[bpf]')).join('\n')
    const whole = steady(readFileSync('/proc/kallsyms', 'utf8'))
    expect(whole.length).toBeGreaterThan(64 * 1024)
    expect(steady(await readTextToEnd('/proc/kallsyms')).length).toBe(whole.length)
    expect(steady(await new NodeFiles('/').read('/proc/kallsyms')).length).toBe(whole.length)
  })

  it('finds the libc in its own maps, far past the first read', async () => {
    const maps = await readTextToEnd('/proc/self/maps')
    expect(maps).toMatch(/\/libc(\.so|-[\d.]+\.so)/)
    // Past one read, to its last line: the kernel's own mappings come last.
    expect(maps.length).toBeGreaterThan(4096)
    expect(maps.trimEnd().split('\n').at(-1)).toMatch(/\[(vsyscall|vdso|vvar|stack)\]/)
  })
})
