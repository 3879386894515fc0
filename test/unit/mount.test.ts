import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {loadBpfAddon} from '../../src/system/bpf-addon.js'
import {mount, unmount} from '../../src/system/mount.js'
import {isRoot} from '../helpers/kernel-state.js'

// tmpfs rather than tracefs: the same calls, and no tracing state that other runs on this kernel watch.
const mounted = (dir: string) => readFileSync('/proc/self/mounts', 'utf8').split('\n').some((line) => line.split(' ')[1] === dir)
const noAddon = () => ({ok: false as const, reason: 'not in this test', tried: []})

describe.skipIf(!isRoot)('mounting a pseudo file system for a run (needs root)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-mount-'))
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  it.skipIf(!loadBpfAddon().ok)('mounts and unmounts through the addon, starting no mount(8)', async () => {
    const addon = loadBpfAddon()
    expect(addon.ok && typeof addon.addon.mount).toBe('function')
    await mount('tmpfs', dir)
    expect(mounted(dir)).toBe(true)
    await unmount(dir)
    expect(mounted(dir)).toBe(false)
  })

  it.skipIf(!loadBpfAddon().ok)('fails with the errno, as mount(8) would refuse', async () => {
    await expect(mount('tmpfs', path.join(dir, 'absent'))).rejects.toMatchObject({code: 'ENOENT'})
    await expect(unmount(dir)).rejects.toMatchObject({code: 'EINVAL'})
  })

  it('uses mount(8) and umount(8) where the addon does not load', async () => {
    await mount('tmpfs', dir, noAddon)
    expect(mounted(dir)).toBe(true)
    await unmount(dir, noAddon)
    expect(mounted(dir)).toBe(false)
  })
})
