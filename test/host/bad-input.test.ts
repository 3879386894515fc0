import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {EXIT} from '../../src/errors.js'
import {diag} from '../helpers/cli.js'
import {type KernelState, isRoot, kernelState} from '../helpers/kernel-state.js'

// Each is refused before diag touches the kernel: exit 2, a message, no stack trace.
const BAD: string[][] = [
  ['funccount', 'vfs_read\nvfs_write'],
  ['funccount', 'vfs_read vfs_write'],
  ['funccount', 'tcp*:mod:ext4'],
  ['funccount', '!vfs_read'],
  ['funccount', '*'],
  ['funcprofile', "tcp*';rm -rf /"],
  ['syscount', '--syscall', 'nosuchcall'],
  ['syscount', '--syscall', 'read', '--by', 'process'],
  ['syscount', '--by', 'tgid'],
  ['syscount', '--duration', '-3'],
  ['syscount', '--duration', '0'],
  ['syscount', '--interval', 'soon'],
  ['syscount', '--pid', '-1'],
  ['syscount', '--backend', 'dtrace'],
  ['biolatency', '--unit', 'hours'],
  ['runqlat', '--', '/no/such/program'],
  ['capabilities', '--host-root', '/nonexistent'],
]

describe.skipIf(!isRoot)('bad input (needs root, to prove nothing was written)', () => {
  let before: KernelState

  beforeAll(async () => {
    before = await kernelState()
  })

  afterAll(async () => {
    expect(await kernelState()).toEqual(before)
  })

  it.each(BAD.map((args) => [args.join(' '), args]))('%j is refused with exit 2', async (_, args) => {
    const run = await diag(args as string[])
    expect(run.exitCode, run.stderr).toBe(EXIT.badInput)
    expect(run.stderr).toMatch(/^diag: \S/)
    expect(run.stderr).not.toMatch(/\n\s+at /)
  })
})
