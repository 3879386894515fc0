import {describe, expect, it} from 'vitest'

import {BadInputError} from '../../src/errors.js'
import {
  MAX_SYMBOL_LENGTH,
  checkFunctionPattern,
  closeFunctionNames,
  matchFunctions,
  readFunctionList,
} from '../../src/tracefs/functions.js'
import {MemoryFiles} from '../helpers/memory-files.js'

const T = '/sys/kernel/tracing'

// What available_filter_functions lists around getppid and read, as each kernel names them:
// 4.9 defines sys_getppid itself (SyS_ wrappers only for syscalls with arguments); 6.1 x86 has
// the body __do_sys_getppid there, while its entry __x64_sys_getppid is only in kallsyms.
const LINUX_4_9 = ['sys_getppid', 'sys_getpid', 'sys_getpgid', 'SyS_getpgid', 'SyS_read', 'sys_read', 'vfs_read', 'vfs_readv', 'vfs_write']
const DEBIAN_6_1 = ['__do_sys_getppid', '__do_sys_getpid', '__se_sys_getpgid', '__x64_sys_read', 'ksys_read', 'vfs_read', 'vfs_readv', 'vfs_write']

describe('close names for a pattern that matches nothing', () => {
  it.each([
    ['SyS_getppid', LINUX_4_9, ['sys_getppid']],
    ['__x64_sys_getppid', LINUX_4_9, ['sys_getppid']],
    ['SyS_getppid', DEBIAN_6_1, ['__do_sys_getppid']],
    ['__x64_sys_getppid', DEBIAN_6_1, ['__do_sys_getppid']],
    ['sys_getpp*', DEBIAN_6_1, ['__do_sys_getppid']],
    ['SYS_GETPPID', LINUX_4_9, ['sys_getppid']],
    ['vfs_raed', LINUX_4_9, ['vfs_read']],
    ['vfs_raed*', DEBIAN_6_1, ['vfs_read', 'vfs_readv']],
    ['zzzz_qqqq', DEBIAN_6_1, []],
    ['sys_*', DEBIAN_6_1, []],
  ])('%j on %j', (pattern, names, expected) => {
    expect(closeFunctionNames(pattern, names)).toEqual(expected)
  })

  it('says which names the kernel has, in a bad-input error', () => {
    const attempt = () => matchFunctions({source: 'available_filter_functions', names: DEBIAN_6_1}, 'SyS_getppid')
    expect(attempt).toThrow(BadInputError)
    expect(attempt).toThrow('no traceable kernel function matches "SyS_getppid" (of 8 in available_filter_functions); did you mean __do_sys_getppid?')
  })

  it('lists several when several are close, and none when none is', () => {
    expect(() => matchFunctions({source: '/proc/kallsyms', names: LINUX_4_9}, 'vfs_reed')).toThrow(/did you mean one of vfs_read, vfs_readv\?$/)
    expect(() => matchFunctions({source: '/proc/kallsyms', names: LINUX_4_9}, 'zzzz_qqqq')).toThrow(/\(of 9 in \/proc\/kallsyms\)$/)
  })

  it('matches a glob as the kernel does, sorted', () => {
    expect(matchFunctions({source: 'x', names: LINUX_4_9}, 'vfs_*')).toEqual(['vfs_read', 'vfs_readv', 'vfs_write'])
    expect(matchFunctions({source: 'x', names: LINUX_4_9}, 'sys_getp?id')).toEqual(['sys_getpgid', 'sys_getppid'])
  })
})

describe('the function list', () => {
  it('is available_filter_functions when it can be read', async () => {
    const files = new MemoryFiles()
    files.files.set(`${T}/available_filter_functions`, 'vfs_read\nvfs_read\next4_file_read_iter [ext4]\n')
    expect(await readFunctionList(files, T)).toEqual({source: 'available_filter_functions', names: ['vfs_read', 'ext4_file_read_iter']})
  })

  it("is kallsyms' text symbols otherwise, without padding, CFI and clone symbols", async () => {
    const files = new MemoryFiles()
    files.files.set(
      '/proc/kallsyms',
      [
        'ffffffff81377c50 t __pfx___do_sys_getppid',
        'ffffffff81377c60 t __do_sys_getppid',
        'ffffffff81377c60 T __x64_sys_getppid',
        'ffffffff81377c40 t __cfi_vfs_read',
        'ffffffff81377c70 t vfs_read.cold',
        'ffffffff82000000 D jiffies',
        // Without root the addresses read as zero; the names are still there.
        '0000000000000000 T vfs_write',
        'ffffffffc0000000 t ext4_file_read_iter\t[ext4]',
      ].join('\n'),
    )
    expect(await readFunctionList(files, T)).toEqual({source: '/proc/kallsyms', names: ['__do_sys_getppid', '__x64_sys_getppid', 'vfs_write', 'ext4_file_read_iter']})
  })

  it('is undefined when neither can be read', async () => {
    expect(await readFunctionList(new MemoryFiles(), T)).toBeUndefined()
  })
})

describe('function patterns', () => {
  it(`refuses one longer than any kernel symbol (${MAX_SYMBOL_LENGTH})`, () => {
    expect(() => checkFunctionPattern('a'.repeat(MAX_SYMBOL_LENGTH))).not.toThrow()
    expect(() => checkFunctionPattern('a'.repeat(MAX_SYMBOL_LENGTH + 1))).toThrow(/512 characters: no kernel has a function name longer than 511/)
    expect(() => checkFunctionPattern(`vfs_${'*'.repeat(100_000)}`)).toThrow(BadInputError)
  })
})
