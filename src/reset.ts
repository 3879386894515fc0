import {readdir, rm, rmdir, unlink} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {setTimeout as sleep} from 'node:timers/promises'

import {isEnding, ownedProcesses} from './system/child.js'
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
  /**
   * "removed", "would remove" (dry run), "ending" (a process in the kernel's exit, which finishes
   * it without diag: a killed perf closing its counters), or the error that stopped it.
   */
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

/** How long reset waits for a killed process to be gone before it leaves it to the kernel's exit. */
const GONE_TIMEOUT_MS = 3000
/** How long a SIGKILLed process may take to enter its exit: it only waits for the scheduler. */
const ENDING_TIMEOUT_MS = 5000

/**
 * Ends a process: SIGKILL, then a bounded wait. A perf with hundreds of tracepoint counters stays
 * in the kernel's exit for seconds while the kernel closes them (a grace period each); it runs no
 * code of its own there, so once it is in its exit it is "ending", not left behind, and reset does
 * not wait for the kernel to finish.
 */
async function endProcess(pid: number): Promise<'removed' | 'ending'> {
  process.kill(pid, 'SIGKILL')
  const start = Date.now()
  while (isRunning(pid)) {
    const waited = Date.now() - start
    if (waited > GONE_TIMEOUT_MS && isEnding(pid)) return 'ending'
    if (waited > ENDING_TIMEOUT_MS) throw new Error(`still running ${ENDING_TIMEOUT_MS / 1000} s after SIGKILL, and not in its exit`)
    await sleep(50)
  }
  return 'removed'
}

/**
 * Removes what diag processes that died without cleaning up (SIGKILL, power loss) left in the
 * kernel: the processes they ran (perf), their instances (with the triggers in them), probe and
 * synthetic events, private tracefs mounts, and perf's data files. It touches only names, and processes, that carry
 * the pid of a diag that is gone (processes by their DIAG_OWNER mark, see system/child.ts).
 */
export async function resetDead(files: HostFiles, tracefs: string | undefined, dryRun: boolean): Promise<ResetReport> {
  const actions: ResetAction[] = []
  const act = async (kind: string, name: string, pid: number, remove: () => Promise<void | 'removed' | 'ending'>) => {
    if (dryRun) return void actions.push({kind, name, pid, outcome: 'would remove'})
    try {
      const outcome = (await remove()) ?? 'removed'
      actions.push({kind, name, pid, outcome})
    } catch (error) {
      actions.push({kind, name, pid, outcome: `failed: ${(error as Error).message}`})
    }
  }

  // Processes first: a perf left running holds tracepoints enabled. One already in its exit (a
  // killed perf whose counters the kernel is still closing) is ending: nothing to do, no failure.
  for (const owned of ownedProcesses()) {
    if (owned.ownerRunning || owned.pid === process.pid) continue
    const name = `${owned.comm} [${owned.pid}]`
    if (owned.ending) actions.push({kind: 'process', name, pid: owned.ownerPid, outcome: 'ending'})
    else await act('process', name, owned.ownerPid, () => endProcess(owned.pid))
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
