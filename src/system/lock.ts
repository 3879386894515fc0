import {mkdir, open, readFile, readdir, unlink} from 'node:fs/promises'

import {BusyError} from '../errors.js'
import {isAlive} from '../tracefs/names.js'

/**
 * Locks for kernel features that have no private instance (the function profiler, top-level
 * filters): a file holding the owner's pid. A lock whose owner died is taken over; one whose
 * owner lives makes diag refuse with a busy error that names it.
 */
export const LOCK_DIR = process.env.DIAG_LOCK_DIR ?? '/run/diag'

const lockPath = (feature: string) => `${LOCK_DIR}/${feature}.lock`

export async function acquireLock(feature: string): Promise<() => Promise<void>> {
  await mkdir(LOCK_DIR, {recursive: true})
  const path = lockPath(feature)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx')
      await handle.write(`${process.pid}\n`)
      await handle.close()
      return () => unlink(path)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim())
      if (holder && isAlive(holder))
        throw new BusyError(`the ${feature} is in use by diag process ${holder}; wait for it, or stop it`, {holder, feature})
      await unlink(path).catch(() => {}) // its owner is gone: a stale lock
    }
  }
  throw new BusyError(`could not take the ${feature} lock at ${path}`, {feature})
}

/** Locks whose owner died, for `diag reset`. */
export async function staleLocks(): Promise<{feature: string; path: string; pid: number}[]> {
  const stale = []
  for (const file of await readdir(LOCK_DIR).catch(() => [])) {
    if (!file.endsWith('.lock')) continue
    const path = `${LOCK_DIR}/${file}`
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim())
    if (!isAlive(pid)) stale.push({feature: file.slice(0, -'.lock'.length), path, pid})
  }
  return stale
}
