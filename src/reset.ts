import {readdir, rm, rmdir, unlink} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {setTimeout as sleep} from 'node:timers/promises'

import {ownedProcesses} from './system/child.js'
import {type HostFiles, readTextToEnd} from './system/files.js'
import {staleLocks} from './system/lock.js'
import {unmount} from './system/mount.js'
import {GROUP_NAME, INSTANCE_NAME, isAlive, isRunning, ownerPid} from './tracefs/names.js'
import {PRIVATE_MOUNT} from './tracefs/private-mount.js'
import {PROBE_EVENTS_FILE, probeRemoval} from './tracefs/probe-events.js'
import {clearTriggers} from './tracefs/triggers.js'
import {PERF_DATA_DIR} from '../backends/perf/perf-record.js'

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
 * Ends a process and waits until it is gone: a perf closing hundreds of tracepoint counters takes
 * seconds to exit (the kernel waits a grace period for each), and what it holds is not released before.
 */
async function endProcess(pid: number, timeoutMs = 60_000): Promise<void> {
  process.kill(pid, 'SIGKILL')
  const deadline = Date.now() + timeoutMs
  while (isRunning(pid)) {
    if (Date.now() > deadline) throw new Error(`still running ${timeoutMs / 1000} s after SIGKILL`)
    await sleep(50)
  }
}

/**
 * Removes what diag processes that died without cleaning up (SIGKILL, power loss) left in the
 * kernel: the processes they ran (perf), their instances (with the triggers in them), probe and
 * synthetic events, private tracefs mounts, and perf's data files. It touches only names, and processes, that carry
 * the pid of a diag that is gone (processes by their DIAG_OWNER mark, see system/child.ts).
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

  // Processes first: a perf left running holds tracepoints enabled.
  for (const owned of ownedProcesses()) {
    if (owned.ownerRunning || owned.pid === process.pid) continue
    await act('process', `${owned.comm} [${owned.pid}]`, owned.ownerPid, () => endProcess(owned.pid))
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
    for (const [file, kind] of [[PROBE_EVENTS_FILE.kprobe, 'kprobe event'], [PROBE_EVENTS_FILE.uprobe, 'uprobe event']] as const) {
      const text = await files.read(`${tracefs}/${file}`).catch(() => '')
      for (const {group, event, pid} of deadDefinitions(text))
        await act(kind, `${group}/${event}`, pid, () => files.write(`${tracefs}/${file}`, probeRemoval(group, event), 'append'))
    }
  }

  const mounts = await readTextToEnd('/proc/self/mounts').catch(() => '')
  for (const line of mounts.split('\n')) {
    const mountPoint = line.split(' ')[1]
    const m = mountPoint ? PRIVATE_MOUNT.exec(mountPoint) : null
    if (!m || isAlive(Number(m[1]))) continue
    await act('tracefs mount', mountPoint, Number(m[1]), async () => {
      await unmount(mountPoint)
      await rmdir(mountPoint)
    })
  }
  // perf record's data files (profile), which its diag would have removed.
  for (const name of await readdir(tmpdir()).catch(() => [])) {
    const m = PERF_DATA_DIR.exec(name)
    if (!m || isAlive(Number(m[1]))) continue
    await act('perf data', path.join(tmpdir(), name), Number(m[1]), () => rm(path.join(tmpdir(), name), {recursive: true, force: true}))
  }
  for (const lock of await staleLocks()) await act('lock', lock.path, lock.pid, () => unlink(lock.path))
  return {tracefs: tracefs ?? null, dryRun, actions}
}
