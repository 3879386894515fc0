import {statSync} from 'node:fs'

import type {BpfAddonError} from '../../system/bpf-addon.js'
import {findExecutable} from '../../system/executable.js'
import {type Capability, type ProbeContext, available, unavailable, unknown} from '../types.js'

// From include/uapi/linux/perf_event.h.
const PERF_TYPE_SOFTWARE = 1
const PERF_TYPE_TRACEPOINT = 2
const PERF_COUNT_SW_CPU_CLOCK = 0

/** perf_event_open(2) is reached through the addon, which is the only native code diag has. */
function perfEventOpen(ctx: ProbeContext, type: number, config: number, pid: number, cpu: number) {
  const load = ctx.bpf()
  if (!load.ok) return unknown('probe', load.reason)
  try {
    load.addon.perfEventOpen(type, config, pid, cpu)
    return available('probe', 'opened and closed an event')
  } catch (error) {
    return unavailable('probe', `perf_event_open refused: ${(error as BpfAddonError).code ?? error}`)
  }
}

const PARANOID_MEANING: Record<string, string> = {
  '-1': 'no restrictions',
  '0': 'unprivileged users may not read raw tracepoints',
  '1': 'unprivileged users may not profile the kernel',
  '2': 'unprivileged users may profile only their own user space',
}

export const PERF_CAPABILITIES: Capability[] = [
  {
    name: 'perf-event-open',
    section: 'perf',
    description: 'perf_event_open() for software events',
    minKernel: '2.6.31',
    config: ['PERF_EVENTS'],
    live: true,
    stableForBoot: true,
    probe: (ctx) => perfEventOpen(ctx, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, 0, -1),
  },
  {
    name: 'perf-event-tracepoint',
    section: 'perf',
    description: 'perf_event_open() on tracepoints',
    minKernel: '2.6.32',
    config: ['PERF_EVENTS', 'EVENT_TRACING'],
    needs: ['perf-event-open', 'tracefs'],
    live: true,
    stableForBoot: true,
    probe: async (ctx) => {
      const id = Number((await ctx.files.read(`${ctx.tracefs}/events/sched/sched_process_fork/id`).catch(() => '')).trim())
      if (!id) return unavailable('file', 'no sched:sched_process_fork id to open')
      return perfEventOpen(ctx, PERF_TYPE_TRACEPOINT, id, -1, 0)
    },
  },
  {
    name: 'perf-event-paranoid',
    section: 'perf',
    description: 'kernel.perf_event_paranoid (limits for unprivileged users)',
    minKernel: '2.6.31',
    live: false,
    setAtRunTime: 'the sysctl kernel.perf_event_paranoid',
    probe: async (ctx) => {
      const value = (await ctx.files.read('/proc/sys/kernel/perf_event_paranoid').catch(() => '')).trim()
      if (!value) return unavailable('file', 'no /proc/sys/kernel/perf_event_paranoid')
      const meaning = PARANOID_MEANING[value] ?? (Number(value) > 2 ? 'unprivileged users may not use perf at all' : '')
      return available('file', `${value}: ${meaning}`, Number(value))
    },
  },
  {
    name: 'perf-tool',
    section: 'perf',
    description: 'the perf command-line tool',
    minKernel: null,
    live: true,
    setAtRunTime: 'a program installed on the host',
    // A perf that told its version is cached with its file's identity: a run with the same file
    // (and boot) does not start it again, which was a fork and exec in every run.
    stableWhile: () => {
      const program = findExecutable('perf')
      const s = program === undefined ? undefined : statSync(program, {throwIfNoEntry: false})
      return s && `${program}:${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`
    },
    // Node's execFile, not execa: `diag capabilities` would otherwise load execa for this alone.
    probe: async () => {
      const {execFile} = await import('node:child_process')
      return new Promise((resolve) => {
        execFile(findExecutable('perf') ?? 'perf', ['--version'], {timeout: 5000}, (error, stdout, stderr) => {
          if (error) {
            const missing = (error as NodeJS.ErrnoException).code === 'ENOENT'
            resolve(unavailable('probe', missing ? 'no perf in PATH' : String(stderr).split('\n')[0] || error.message))
            return
          }
          const version = stdout.trim().replace(/^perf version /, '')
          resolve(available('probe', `perf ${version}`, version))
        })
      })
    },
  },
]
