import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {EXIT} from '../../src/errors.js'
import {diag} from '../helpers/cli.js'
import {expectKernelStateKept, isRoot, watched} from '../helpers/kernel-state.js'

// A pid that runs nowhere: above the kernel's pid_max.
const NO_SUCH_PID = String(Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1)

// Each is refused before diag touches the kernel: exit 2, a message, no stack trace.
const BAD: string[][] = [
  ['funccount', 'vfs_read\nvfs_write'],
  ['funccount', 'vfs_read vfs_write'],
  ['funccount', 'tcp*:mod:ext4'],
  ['funccount', '!vfs_read'],
  ['funccount', '*'],
  ['funccount', `vfs_${'r'.repeat(508)}`],
  ['funcprofile', "tcp*';rm -rf /"],
  ['syscount', '--syscall', 'nosuchcall'],
  ['syscount', '--syscall', 'read', '--by', 'process'],
  ['syscount', '--by', 'task'],
  ['syscount', '--by', 'tgid'],
  ['syscount', '--duration', '-3'],
  ['syscount', '--duration', '0'],
  ['syscount', '--interval', 'soon'],
  ['syscount', '--pid', '-1'],
  ['syscount', '--pid', NO_SUCH_PID],
  ['funccount', 'vfs_read', '--pid', NO_SUCH_PID],
  ['syscount', '--pid', '1', '--', '/bin/true'],
  ['syscount', '--backend', 'dtrace'],
  ['syscount', '--backend', 'nosuch'],
  ['syscount', '--backend', ''],
  ['syscount', '-b', 'perf-stat', '--by', 'process'],
  ['syscount', '-b', 'perf', '--by', 'process'],
  ['syscount', '--', '/nonexistent'],
  ['syscount', '--', '/tmp'],
  ['syscount', '--'],
  ['biolatency', '--unit', 'hours'],
  ['funclatency', 'vfs_read', '--unit', 'hours'],
  ['funclatency', 'vfs_read;echo'],
  ['funclatency', 'vfs_read', '--pid', NO_SUCH_PID],
  ['runqlat', '--', '/no/such/program'],
  ['capabilities', '--host-root', '/nonexistent'],
]

describe.skipIf(!isRoot)('bad input (needs root, to watch the kernel during the call)', () => {
  expectKernelStateKept()

  it.each(BAD.map((args) => [args.join(' ').replace(/(.{60}).+/s, '$1...'), args]))('%j is refused with exit 2, having made nothing', async (_, args) => {
    const run = await watched(args as string[])
    expect(run.exitCode, run.stderr).toBe(EXIT.badInput)
    expect(run.stderr).toMatch(/^diag: \S/)
    expect(run.stderr).not.toMatch(/\n\s+at /)
    expect(run.made, run.stderr).toEqual([])
  })

  it('the watcher sees what a probe makes and undoes, so an empty list means something', async () => {
    // A run refused only after probing (nothing is usable for funccount here, or a pattern that
    // matches nothing): its probe instance is made and removed within the call. --no-cache: with
    // this boot's answers cached a run makes no probe instance at all.
    const run = await watched(['funccount', 'vfs_read', '-d', '1', '--no-cache'])
    expect([EXIT.ok, EXIT.notSupported]).toContain(run.exitCode)
    expect(run.made.some((m) => /diag-\d+-probe/.test(m)), run.made.join('\n')).toBe(true)
  })
})

describe.skipIf(!isRoot)('a function pattern that matches nothing on this kernel', () => {
  expectKernelStateKept()

  it('is refused with exit 2 and the names this kernel has for it', async () => {
    // Which getppid names the kernel has, read by the test: kallsyms' text symbols.
    const kallsyms = readFileSync('/proc/kallsyms', 'utf8')
    const names = [...kallsyms.matchAll(/^\S+ [tT] (\S*sys_getppid)$/gm)].map((m) => m[1]).filter((n) => !n.startsWith('__pfx_'))
    expect(names.length).toBeGreaterThan(0)
    const {exitCode, stderr} = await diag(['funccount', 'SyS_getppid', '-d', '1'])
    expect(exitCode, stderr).toBe(EXIT.badInput)
    expect(stderr).toMatch(/^diag: no traceable kernel function matches "SyS_getppid" \(of \d+ in \S+\); did you mean /)
    const suggested = /did you mean (?:one of )?(.*)\?$/m.exec(stderr)![1].split(', ')
    expect(suggested.length).toBeGreaterThan(0)
    for (const name of suggested) expect(names, `${name} is a getppid of this kernel`).toContain(name)
  })

  it('is refused by funclatency too, with nothing made but the probe\'s own instance', async () => {
    const run = await watched(['funclatency', 'SyS_getppid', '-d', '1'])
    expect(run.exitCode, run.stderr).toBe(EXIT.badInput)
    expect(run.stderr).toMatch(/^diag: no traceable kernel function matches "SyS_getppid" .*; did you mean /)
    expect(run.made.filter((m) => !/diag-\d+-probe/.test(m))).toEqual([])
  })
})
