import {mkdtemp, rmdir} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {mount, unmount} from '../system/mount.js'

/**
 * Where diag mounts tracefs for itself when the host has not mounted it: a directory named with
 * diag's pid, so that the host's mount table is left alone (/sys/kernel/tracing stays unmounted)
 * and `diag reset` can find a mount that a killed diag left behind.
 */
export const PRIVATE_MOUNT = /\/diag-(\d+)-tracefs-\w+$/

export interface PrivateMount {
  /** The tracing directory inside the mount. */
  tracing: string
  mountPoint: string
  remove(): Promise<void>
}

/** Mounts tracefs (or, on kernels before 4.1, debugfs whose tracing/ it holds). */
export async function mountPrivateTracefs(pid: number, fstype: 'tracefs' | 'debugfs'): Promise<PrivateMount> {
  const mountPoint = await mkdtemp(path.join(tmpdir(), `diag-${pid}-tracefs-`))
  try {
    await mount(fstype, mountPoint)
  } catch (error) {
    await rmdir(mountPoint)
    throw error
  }
  return {
    mountPoint,
    tracing: fstype === 'tracefs' ? mountPoint : path.join(mountPoint, 'tracing'),
    async remove() {
      await unmount(mountPoint)
      await rmdir(mountPoint)
    },
  }
}
