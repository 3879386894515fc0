import {readFile, rmdir, unlink} from 'node:fs/promises'

import type {HostFiles} from './system/files.js'
import {staleLocks} from './system/lock.js'
import {unmount} from './system/mount.js'
import {GROUP_NAME, INSTANCE_NAME, isAlive, ownerPid} from './tracefs/names.js'
import {PRIVATE_MOUNT} from './tracefs/private-mount.js'
import {clearTriggers} from './tracefs/triggers.js'

export interface ResetAction {
  /** What it is: "instance", "kprobe event", "synthetic event", "mount"... */
  kind: string
  name: string
  pid: number
  /** "removed", "would remove" (dry run), or the error that stopped it. */
  outcome: string
}

export interface ResetReport {
  tracefs: string | null
  dryRun: boolean
  actions: ResetAction[]
}

/** Lines of a dynamic event file that a dead diag defined, as the `-:group/event` that removes each. */
function deadDefinitions(text: string): {group: string; event: string; pid: number}[] {
  const found = []
  for (const line of text.split('\n')) {
    const m = /^[a-z]:([\w]+)\/(\w+)\s/.exec(line)
    if (!m || !GROUP_NAME.test(m[1])) continue
    const pid = ownerPid(m[1])!
    if (!isAlive(pid)) found.push({group: m[1], event: m[2], pid})
  }
  return found
}

/**
 * Removes what diag processes that died without cleaning up (SIGKILL, power loss) left in the
 * kernel: their instances (with the triggers in them), probe and synthetic events, and private
 * tracefs mounts. It touches only names that carry a diag pid whose process is gone.
 */
export async function resetDead(files: HostFiles, tracefs: string | undefined, dryRun: boolean): Promise<ResetReport> {
  const actions: ResetAction[] = []
  const act = async (kind: string, name: string, pid: number, remove: () => Promise<void>) => {
    if (dryRun) return void actions.push({kind, name, pid, outcome: 'would remove'})
    try {
      await remove()
      actions.push({kind, name, pid, outcome: 'removed'})
    } catch (error) {
      actions.push({kind, name, pid, outcome: `failed: ${(error as Error).message}`})
    }
  }

  if (tracefs) {
    // Instances first: their triggers may use synthetic events, which cannot go while in use.
    for (const name of await files.list(`${tracefs}/instances`).catch(() => [])) {
      const pid = ownerPid(name)
      if (!INSTANCE_NAME.test(name) || pid === undefined || isAlive(pid)) continue
      await act('instance', name, pid, async () => {
        await clearTriggers(files, `${tracefs}/instances/${name}`)
        await files.rmdir(`${tracefs}/instances/${name}`)
      })
    }
    const synthetic = await files.read(`${tracefs}/synthetic_events`).catch(() => '')
    for (const line of synthetic.split('\n')) {
      const name = line.split(/\s+/)[0]
      const pid = ownerPid(name)
      if (!name || !GROUP_NAME.test(name) || pid === undefined || isAlive(pid)) continue
      await act('synthetic event', name, pid, () => files.write(`${tracefs}/synthetic_events`, `!${name}`, 'append'))
    }
    for (const [file, kind] of [['kprobe_events', 'kprobe event'], ['uprobe_events', 'uprobe event']] as const) {
      const text = await files.read(`${tracefs}/${file}`).catch(() => '')
      for (const {group, event, pid} of deadDefinitions(text))
        await act(kind, `${group}/${event}`, pid, () => files.write(`${tracefs}/${file}`, `-:${group}/${event}`, 'append'))
    }
  }

  const mounts = await readFile('/proc/self/mounts', 'utf8').catch(() => '')
  for (const line of mounts.split('\n')) {
    const mountPoint = line.split(' ')[1]
    const m = mountPoint ? PRIVATE_MOUNT.exec(mountPoint) : null
    if (!m || isAlive(Number(m[1]))) continue
    await act('tracefs mount', mountPoint, Number(m[1]), async () => {
      await unmount(mountPoint)
      await rmdir(mountPoint)
    })
  }
  for (const lock of await staleLocks()) await act('lock', lock.path, lock.pid, () => unlink(lock.path))
  return {tracefs: tracefs ?? null, dryRun, actions}
}
