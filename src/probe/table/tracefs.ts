import {errnoName} from '../../errors.js'
import {eventGroup} from '../../tracefs/names.js'
import {PROBE_EVENTS_FILE, type ProbeSite, probeDefinition, probeRemoval} from '../../tracefs/probe-events.js'
import {type PrivateMount, mountPrivateTracefs} from '../../tracefs/private-mount.js'
import {type Capability, type Outcome, type ProbeContext, available, needsPrivilege, unavailable, unknown} from '../types.js'

// Where the host may have mounted the tracing files: tracefs' own mount point since 4.1, or
// debugfs' tracing/ directory on older kernels and where only debugfs is mounted.
const TRACING_DIRS = [
  {dir: '/sys/kernel/tracing', fstype: 'tracefs'},
  {dir: '/sys/kernel/debug/tracing', fstype: 'debugfs'},
] as const

// A kernel function that every kernel diag supports has had, used as a harmless probe target.
export const PROBE_FUNCTION = 'vfs_read'
// Long-lived tracepoints, in order of preference, for probes that need one to exist.
const PROBE_EVENTS = ['sched/sched_process_fork', 'sched/sched_switch', 'irq/irq_handler_entry']

function describe(error: unknown): string {
  return errnoName(error) ?? (error instanceof Error ? error.message : String(error))
}

/** An outcome for a refused write: EPERM/EACCES and EINVAL mean the kernel said no. */
function refused(what: string, error: unknown): Outcome {
  return unavailable('probe', `${what} refused: ${describe(error)}`)
}

async function tracingDir(ctx: ProbeContext): Promise<Outcome> {
  for (const {dir} of TRACING_DIRS) {
    if (await ctx.files.exists(`${dir}/trace`)) {
      ctx.tracefs = dir
      return available('file', `mounted at ${dir}`, dir)
    }
  }
  if (!ctx.live) return unknown('not-run', 'not mounted under the host root, and diag mounts only on the running host')
  if (!ctx.privileged) {
    // Mounted but closed to this user (tracefs is mode 0700): say so, rather than "not mounted".
    const mounts = await ctx.files.read('/proc/self/mounts').catch(() => '')
    const mounted = TRACING_DIRS.find(({dir}) => mounts.split('\n').some((line) => line.split(' ')[1] === dir))
    return mounted
      ? needsPrivilege('file', `mounted at ${mounted.dir}, but uid ${process.getuid?.()} may not read it`, 'root to read tracefs (mode 0700)')
      : needsPrivilege('file', 'not mounted, and mounting it needs root', 'root to mount tracefs')
  }
  // Not mounted: diag mounts it privately for this run rather than changing the host's mounts.
  const filesystems = await ctx.files.read('/proc/filesystems').catch(() => '')
  for (const {fstype} of TRACING_DIRS) {
    if (!new RegExp(`\\s${fstype}$`, 'm').test(filesystems)) continue
    let mounted: PrivateMount
    try {
      mounted = await mountPrivateTracefs(ctx.pid, fstype)
    } catch (error) {
      return unavailable('probe', `mounting ${fstype} failed: ${describe(error)}`)
    }
    ctx.sessionUndo.push(`unmount ${mounted.mountPoint}`, () => mounted.remove())
    if (await ctx.files.exists(`${mounted.tracing}/trace`)) {
      ctx.tracefs = mounted.tracing
      return available('probe', `not mounted on the host; diag mounts ${fstype} privately for each run`)
    }
  }
  return unavailable('file', 'neither tracefs nor debugfs is in /proc/filesystems')
}

/** Whether a file exists in the tracing directory: the plainest evidence a feature is compiled in. */
function tracefsFile(file: string, present: string, absent: string): Capability['probe'] {
  return async (ctx) =>
    (await ctx.files.exists(`${ctx.tracefs}/${file}`))
      ? available('file', present)
      : unavailable('file', absent)
}

async function instances(ctx: ProbeContext): Promise<Outcome> {
  if (!(await ctx.files.exists(`${ctx.tracefs}/instances`))) return unavailable('file', 'no instances/ directory')
  try {
    await ctx.instance()
    return available('probe', 'created a private instance (removed again)')
  } catch (error) {
    return refused('creating an instance', error)
  }
}

async function functionTracer(ctx: ProbeContext): Promise<Outcome> {
  const tracers = await ctx.files.read(`${ctx.tracefs}/available_tracers`).catch(() => '')
  if (!tracers.split(/\s+/).includes('function')) return unavailable('file', 'available_tracers has no "function"')
  // A filter is what diag needs from the function tracer; setting one is the real test, and it is
  // done in diag's own instance so that no other tracer sees it.
  const instance = await privateInstance(ctx)
  const dir = instance && (await ctx.files.exists(`${instance}/set_ftrace_filter`)) ? instance : ctx.tracefs!
  if (dir === ctx.tracefs) {
    let current: string, filter: string
    try {
      current = (await ctx.files.read(`${dir}/current_tracer`)).trim()
      filter = await ctx.files.read(`${dir}/set_ftrace_filter`)
    } catch (error) {
      return refused('reading set_ftrace_filter', error)
    }
    if (current !== 'nop' || !/^(#.*\n)*$/.test(filter))
      return unknown('probe', `top-level tracing is in use (current_tracer ${current}); not touched`)
  }
  const filterFile = `${dir}/set_ftrace_filter`
  try {
    await ctx.files.write(filterFile, PROBE_FUNCTION, 'truncate')
  } catch (error) {
    return refused(`writing ${filterFile.slice(ctx.tracefs!.length + 1)}`, error)
  }
  ctx.undo.push(`clear ${filterFile}`, () => ctx.files.write(filterFile, '', 'truncate'))
  return available('probe', `set a filter (${PROBE_FUNCTION}) in ${dir === ctx.tracefs ? 'the top level' : 'a private instance'}`)
}

/** Defines a probe event (named after its kind) in a pid-named group and deletes it again. */
function dynamicEvent(site: ProbeSite): Capability['probe'] {
  return async (ctx) => {
    const file = PROBE_EVENTS_FILE[site.kind]
    const path = `${ctx.tracefs}/${file}`
    if (!(await ctx.files.exists(path))) return unavailable('file', `no ${file}`)
    const group = eventGroup(ctx.pid, 'probe')
    try {
      await ctx.files.write(path, probeDefinition({group, event: site.kind, site}), 'append')
    } catch (error) {
      return refused(`defining a ${site.kind} in ${file}`, error)
    }
    const remove = () => ctx.files.write(path, probeRemoval(group, site.kind), 'append')
    ctx.undo.push(`remove ${group}/${site.kind} from ${file}`, remove)
    return available('probe', `defined a ${site.kind} event (removed again)`)
  }
}

async function probeEvent(ctx: ProbeContext, root: string): Promise<string | undefined> {
  for (const event of PROBE_EVENTS) if (await ctx.files.exists(`${root}/events/${event}/enable`)) return event
  return undefined
}

/** diag's probe instance, or undefined where the kernel has none (or refuses one). */
async function privateInstance(ctx: ProbeContext): Promise<string | undefined> {
  if (!(await ctx.files.exists(`${ctx.tracefs}/instances`))) return undefined
  return ctx.instance().catch(() => undefined)
}

async function tracepoints(ctx: ProbeContext): Promise<Outcome> {
  const instance = await privateInstance(ctx)
  if (!instance) {
    // Enabling an event at the top level would disturb other tracers: the files have to do.
    const event = await probeEvent(ctx, ctx.tracefs!)
    return event ? available('file', `events/${event} exists`) : unavailable('file', 'no events/ tracepoints')
  }
  const event = await probeEvent(ctx, instance)
  if (!event) return unavailable('file', 'no events/ tracepoints')
  const enable = `${instance}/events/${event}/enable`
  try {
    await ctx.files.write(enable, '1', 'truncate')
  } catch (error) {
    return refused(`enabling ${event}`, error)
  }
  await ctx.files.write(enable, '0', 'truncate')
  return available('probe', `enabled and disabled ${event} in a private instance`)
}

async function histTriggers(ctx: ProbeContext): Promise<Outcome> {
  const event = (await probeEvent(ctx, ctx.tracefs!)) ?? 'raw_syscalls/sys_enter'
  const trigger = `${ctx.tracefs}/events/${event}/trigger`
  let text: string
  try {
    text = await ctx.files.read(trigger)
  } catch (error) {
    return unavailable('file', `cannot read events/${event}/trigger: ${describe(error)}`)
  }
  const list = /^# Available triggers:\n#\s*(.*)$/m.exec(text)?.[1]
  if (list === undefined) return unknown('file', `events/${event}/trigger does not list its triggers`)
  return list.split(/\s+/).includes('hist')
    ? available('file', `events/${event}/trigger lists hist`)
    : unavailable('file', `triggers listed are only: ${list.trim()}`)
}

async function histBuckets(ctx: ProbeContext): Promise<Outcome> {
  const readme = await ctx.files.read(`${ctx.tracefs}/README`).catch(() => '')
  return readme.includes('.buckets')
    ? available('file', 'README documents the .buckets modifier')
    : unavailable('file', 'README does not document .buckets')
}

// The live probes here (an instance, an event enabled in it, a function filter, a probe event
// defined) answer what the kernel accepts, which holds for the boot: they are cached as the BPF
// probes are (src/probe/cache.ts), so that a run with cached answers makes no instance (ring
// buffers allocated and freed) and defines no event. What tracefs holds is read anew each run.
export const TRACEFS_CAPABILITIES: Capability[] = [
  {
    name: 'tracefs',
    section: 'tracefs',
    description: 'tracing file system (tracefs, or debugfs tracing/ before 4.1)',
    minKernel: '2.6.27',
    config: ['FTRACE'],
    live: false,
    probe: tracingDir,
  },
  {
    name: 'ftrace-instances',
    section: 'tracefs',
    description: 'private ftrace instances (instances/)',
    minKernel: '3.10',
    needs: ['tracefs'],
    live: true,
    stableForBoot: true,
    probe: instances,
  },
  {
    name: 'tracepoints',
    section: 'tracefs',
    description: 'static tracepoints as ftrace events',
    minKernel: '2.6.32',
    config: ['EVENT_TRACING'],
    needs: ['tracefs'],
    live: true,
    stableForBoot: true,
    probe: tracepoints,
  },
  {
    name: 'sched-waking-tracepoint',
    section: 'tracefs',
    description: 'sched:sched_waking tracepoint (a wakeup where it is made, in the waker)',
    minKernel: '4.3',
    config: ['EVENT_TRACING'],
    needs: ['tracefs'],
    live: false,
    probe: tracefsFile('events/sched/sched_waking/id', 'sched:sched_waking exists', 'no sched:sched_waking event (came in 4.3)'),
  },
  {
    name: 'syscall-tracepoints',
    section: 'tracefs',
    description: 'syscall tracepoints (raw_syscalls and syscalls:sys_enter_*)',
    minKernel: '2.6.33',
    config: ['FTRACE_SYSCALLS'],
    needs: ['tracefs'],
    live: false,
    probe: tracefsFile('events/raw_syscalls/sys_enter/id', 'raw_syscalls:sys_enter exists', 'no raw_syscalls events'),
  },
  {
    name: 'tcp-state-tracepoint',
    section: 'tracefs',
    description: 'TCP state changes as a tracepoint (sock:inet_sock_set_state)',
    minKernel: '4.16',
    config: ['INET', 'EVENT_TRACING'],
    needs: ['tracefs'],
    live: false,
    probe: tracefsFile('events/sock/inet_sock_set_state/id', 'sock:inet_sock_set_state exists', 'no sock:inet_sock_set_state event (came in 4.16)'),
  },
  {
    name: 'tcp-probe-tracepoint',
    section: 'tracefs',
    description: 'tcp:tcp_probe tracepoint (each segment an established socket receives, with its smoothed RTT)',
    minKernel: '4.16',
    config: ['INET', 'EVENT_TRACING'],
    needs: ['tracefs'],
    live: false,
    probe: tracefsFile('events/tcp/tcp_probe/id', 'tcp:tcp_probe exists', 'no tcp:tcp_probe event (came in 4.16)'),
  },
  {
    name: 'sock-length-tracepoints',
    section: 'tracefs',
    description: 'sock:sock_send_length and sock:sock_recv_length tracepoints (bytes per socket call)',
    minKernel: '6.3',
    needs: ['tracefs'],
    live: false,
    probe: tracefsFile('events/sock/sock_recv_length/id', 'sock:sock_send_length and sock_recv_length exist', 'no sock:sock_recv_length event'),
  },
  {
    name: 'function-tracer',
    section: 'tracefs',
    description: 'function tracer with a function filter',
    minKernel: '2.6.28',
    config: ['FUNCTION_TRACER', 'DYNAMIC_FTRACE'],
    needs: ['tracefs'],
    live: true,
    stableForBoot: true,
    probe: functionTracer,
  },
  {
    name: 'function-graph-tracer',
    section: 'tracefs',
    description: 'function_graph tracer (function durations)',
    minKernel: '2.6.29',
    config: ['FUNCTION_GRAPH_TRACER'],
    needs: ['tracefs'],
    live: false,
    probe: async (ctx) => {
      const tracers = await ctx.files.read(`${ctx.tracefs}/available_tracers`).catch(() => '')
      return tracers.split(/\s+/).includes('function_graph')
        ? available('file', 'available_tracers lists function_graph')
        : unavailable('file', 'available_tracers has no function_graph')
    },
  },
  {
    name: 'function-profiler',
    section: 'tracefs',
    description: 'function profiler (function_profile_enabled, trace_stat/function*)',
    minKernel: '2.6.31',
    config: ['FUNCTION_PROFILER'],
    needs: ['tracefs'],
    live: false,
    // Switching the profiler on to test it would profile every kernel function: the file's
    // presence is conclusive, since it exists exactly when the profiler is compiled in.
    probe: tracefsFile('function_profile_enabled', 'function_profile_enabled exists', 'no function_profile_enabled'),
  },
  {
    name: 'kprobe-events',
    section: 'tracefs',
    description: 'kprobe events (kprobe_events)',
    minKernel: '2.6.33',
    config: ['KPROBES', 'KPROBE_EVENTS'],
    needs: ['tracefs'],
    live: true,
    stableForBoot: true,
    probe: dynamicEvent({kind: 'kprobe', func: PROBE_FUNCTION}),
  },
  {
    name: 'kprobe-profile',
    section: 'tracefs',
    description: 'per-kprobe hit counts (kprobe_profile)',
    minKernel: '2.6.33',
    config: ['KPROBES', 'KPROBE_EVENTS'],
    needs: ['tracefs'],
    live: false,
    probe: tracefsFile('kprobe_profile', 'kprobe_profile exists', 'no kprobe_profile'),
  },
  {
    name: 'uprobe-events',
    section: 'tracefs',
    description: 'uprobe events (uprobe_events)',
    minKernel: '3.5',
    config: ['UPROBE_EVENTS'],
    needs: ['tracefs'],
    live: true,
    stableForBoot: true,
    probe: dynamicEvent({kind: 'uprobe', path: process.execPath, offset: 0n}),
  },
  {
    name: 'dynamic-events',
    section: 'tracefs',
    description: 'unified dynamic_events interface',
    minKernel: '5.0',
    config: ['DYNAMIC_EVENTS'],
    needs: ['tracefs'],
    live: false,
    probe: tracefsFile('dynamic_events', 'dynamic_events exists', 'no dynamic_events'),
  },
  {
    name: 'hist-triggers',
    section: 'tracefs',
    description: 'hist triggers (in-kernel aggregation on events)',
    minKernel: '4.7',
    config: ['HIST_TRIGGERS'],
    needs: ['tracefs'],
    live: false,
    probe: histTriggers,
  },
  {
    name: 'synthetic-events',
    section: 'tracefs',
    description: 'synthetic events (synthetic_events)',
    minKernel: '4.17',
    config: ['SYNTH_EVENTS'],
    needs: ['tracefs'],
    live: false,
    probe: tracefsFile('synthetic_events', 'synthetic_events exists', 'no synthetic_events'),
  },
  {
    name: 'hist-buckets',
    section: 'tracefs',
    description: 'linear buckets in hist keys (.buckets=)',
    minKernel: '5.15',
    needs: ['hist-triggers'],
    live: false,
    probe: histBuckets,
  },
]
