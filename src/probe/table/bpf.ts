import {existsSync} from 'node:fs'

import type {AttachSpec, BpfAddon, BpfAddonError} from '../../system/bpf-addon.js'
import {bpfObjectPath} from '../../system/paths.js'
import {type Capability, type Outcome, type ProbeContext, available, unavailable, unknown} from '../types.js'
import {eventGroup} from '../../tracefs/names.js'
import {KPROBE_PMU, UPROBE_PMU, defineProbeEvent} from '../../tracefs/probe-events.js'
import {PROBE_FUNCTION} from './tracefs.js'

// Numbers from include/uapi/linux/bpf.h (enum bpf_map_type).
const MAP_TYPES = {
  hash: 1,
  array: 2,
  'perf-event-array': 4,
  'percpu-hash': 5,
  'percpu-array': 6,
  'stack-trace': 7,
  ringbuf: 27,
} as const

// Numbers from include/uapi/linux/bpf.h (enum bpf_prog_type, enum bpf_func_id).
const PROG_TYPE_TRACEPOINT = 5
const HELPERS = {
  probe_read: 4,
  ktime_get_ns: 5,
  get_current_comm: 16,
  get_stackid: 27,
} as const

// A tracepoint every kernel has, as the target for attach probes.
const PROBE_TRACEPOINT = {category: 'sched', name: 'sched_process_fork'}
const PERF_TYPE_TRACEPOINT = 2

function describe(error: unknown): string {
  const e = error as BpfAddonError
  // libbpf's last line usually names the real cause ("failed to add legacy kprobe event ...").
  const noise = /failed to load object|failed to load: -\d+|permission error while running as root/
  const log = e.libbpfLog?.trim().split('\n').filter((line) => !noise.test(line)).pop()
  return `${e.code ?? e.message}${log && !log.includes(e.code ?? '\u0000') ? ` (${log.replace(/^libbpf: /, '')})` : ''}`
}

function withAddon(ctx: ProbeContext, probe: (addon: BpfAddon) => Outcome): Outcome {
  const load = ctx.bpf()
  if (!load.ok) return unknown('probe', load.reason)
  return probe(load.addon)
}

/**
 * Loads one program of bpf/probe.bpf.o and attaches it: a load alone proves little (a kprobe
 * program loads on a kernel without kprobes). Everything is destroyed before returning. Without
 * an attach spec the load is the answer (a load-time feature such as global data).
 */
function loadAndAttach(program: string, attachSpec: AttachSpec | ((ctx: ProbeContext) => Promise<AttachSpec>) | undefined, target?: string): Capability['probe'] {
  return async (ctx) => {
    const attach = typeof attachSpec === 'function' ? await attachSpec(ctx) : attachSpec
    return withAddon(ctx, (addon) => {
      const path = bpfObjectPath('probe')
      if (!existsSync(path)) return unknown('probe', `${path} is not built (run \`npm run build:bpf\`)`)
      const object = new addon.BpfObject(path)
      try {
        for (const p of object.programs()) object.setAutoload(p.name, p.name === program)
        if (target) object.setAttachTarget(program, target)
        try {
          object.load()
        } catch (error) {
          return unavailable('probe', `load refused: ${describe(error)}`)
        }
        if (!attach) return available('probe', 'loaded')
        try {
          object.attach(program, attach)
        } catch (error) {
          return unavailable('probe', `loads, but attaching failed: ${describe(error)}`)
        }
        return available('probe', 'loaded and attached')
      } finally {
        object.destroy()
      }
    })
  }
}

/**
 * A tracepoint attach through perf_event_open with the id from diag's own tracefs view, as the
 * BPF backend does it: libbpf's own tracepoint attach needs tracefs mounted where it looks.
 */
async function probeTracepoint(ctx: ProbeContext): Promise<AttachSpec> {
  const id = Number((await ctx.files.read(`${ctx.tracefs}/events/${PROBE_TRACEPOINT.category}/${PROBE_TRACEPOINT.name}/id`)).trim())
  return {kind: 'perf_event', type: PERF_TYPE_TRACEPOINT, config: id, cpu: 0}
}

/**
 * A kprobe as the BPF backend makes it (backends/bpf/bpf-tool.ts: attachKprobe): through the
 * kprobe PMU where there is one, else through a kprobe event in diag's tracefs view, removed when
 * probing ends (after the probe object, which the probe destroys first).
 */
async function probeKprobe(ctx: ProbeContext): Promise<AttachSpec> {
  const tracefs = ctx.tracefs
  if (!tracefs || (await ctx.files.exists(KPROBE_PMU)) || !(await ctx.files.exists(`${tracefs}/kprobe_events`)))
    return {kind: 'kprobe', function: PROBE_FUNCTION}
  const group = eventGroup(ctx.pid, 'probe')
  const event = await defineProbeEvent(ctx.files, tracefs, {group, event: 'bpf_kprobe', site: {kind: 'kprobe', func: PROBE_FUNCTION}})
  ctx.undo.push(`remove ${group}/bpf_kprobe from kprobe_events`, () => event.remove())
  return {kind: 'perf_event', type: PERF_TYPE_TRACEPOINT, config: event.id, cpu: 0}
}

/**
 * A uprobe as the BPF backend makes it (backends/bpf/bpf-tool.ts: attachUprobe): through the
 * uprobe PMU where there is one, else through a uprobe event in diag's tracefs view. Its target
 * is a file no process runs (the probe object itself, offset 0): registering it changes no
 * process's memory.
 */
async function probeUprobe(ctx: ProbeContext): Promise<AttachSpec> {
  const target = {path: bpfObjectPath('probe'), offset: 0n}
  const tracefs = ctx.tracefs
  if (!tracefs || (await ctx.files.exists(UPROBE_PMU)) || !(await ctx.files.exists(`${tracefs}/uprobe_events`)))
    return {kind: 'uprobe', binary: target.path, offset: 0}
  const group = eventGroup(ctx.pid, 'probe')
  const event = await defineProbeEvent(ctx.files, tracefs, {group, event: 'bpf_uprobe', site: {kind: 'uprobe', ...target}})
  ctx.undo.push(`remove ${group}/bpf_uprobe from uprobe_events`, () => event.remove())
  return {kind: 'perf_event', type: PERF_TYPE_TRACEPOINT, config: event.id, cpu: 0}
}

/**
 * Whether BPF programs run JIT-compiled: the sysctl says (1 on, 2 on with debug output; kernels
 * with CONFIG_BPF_JIT_ALWAYS_ON read 1 and have no interpreter). The file is root's only, and a
 * network namespace of its own hides it: then only a config without the JIT, or with it always
 * on, settles it; a JIT that is built may still be off at run time, so that stays unknown.
 */
async function bpfJit(ctx: ProbeContext): Promise<Outcome> {
  const file = '/proc/sys/net/core/bpf_jit_enable'
  const text = await ctx.files.read(file).then(
    (t) => t.trim(),
    (error: {code?: string; message: string}) => error.code ?? error.message,
  )
  if (text === '0') return unavailable('file', 'bpf_jit_enable = 0: programs run in the interpreter (sysctl net.core.bpf_jit_enable=1 turns the JIT on)', 0)
  if (/^[12]$/.test(text)) return available('file', `bpf_jit_enable = ${text}`, Number(text))
  const symbols = ctx.config?.symbols
  const unreadable = `${file} cannot be read (${text})`
  if (symbols && !['y', 'm'].includes(symbols.get('BPF_JIT') ?? 'n')) return unavailable('config', `${unreadable}; CONFIG_BPF_JIT is not set: programs run in the interpreter`)
  if (symbols?.get('BPF_JIT_ALWAYS_ON') === 'y') return available('config', `${unreadable}; CONFIG_BPF_JIT_ALWAYS_ON=y`)
  return unknown('file', `${unreadable}${symbols ? '; CONFIG_BPF_JIT=y, but it may be off at run time' : ''}`)
}

function mapType(name: keyof typeof MAP_TYPES, minKernel: string): Capability {
  return {
    name: `bpf-map-${name}`,
    section: 'bpf',
    description: `BPF ${name} maps`,
    minKernel,
    config: ['BPF_SYSCALL'],
    needs: ['bpf-syscall'],
    live: true,
    stableForBoot: true,
    probe: (ctx) =>
      withAddon(ctx, (addon) => {
        const result = addon.probeMapType(MAP_TYPES[name])
        if (result.supported) return available('probe', 'created a map')
        if (result.errno) return unknown('probe', `could not tell: ${result.code}`)
        return unavailable('probe', 'map creation failed')
      }),
  }
}

/**
 * Whether tracepoint programs may call a helper: libbpf loads a program calling it and reads the
 * verifier's answer ("unknown func" means no). The tools' objects call only helpers probed here.
 */
function helper(name: keyof typeof HELPERS, minKernel: string): Capability {
  return {
    name: `bpf-helper-${name.replaceAll('_', '-')}`,
    section: 'bpf',
    description: `BPF helper bpf_${name} in tracepoint programs`,
    minKernel,
    config: ['BPF_EVENTS'],
    // On a kernel without tracepoint programs libbpf would guess "supported": ask only where they load.
    needs: ['bpf-syscall', 'bpf-tracepoint'],
    live: true,
    stableForBoot: true,
    probe: (ctx) =>
      withAddon(ctx, (addon) => {
        const result = addon.probeHelper(PROG_TYPE_TRACEPOINT, HELPERS[name])
        if (result.supported) return available('probe', 'the verifier accepts the call')
        if (result.errno) return unknown('probe', `could not tell: ${result.code}`)
        return unavailable('probe', 'the verifier does not know it (unknown func)')
      }),
  }
}

export const BPF_CAPABILITIES: Capability[] = [
  {
    name: 'bpf-syscall',
    section: 'bpf',
    description: 'bpf() system call',
    minKernel: '3.18',
    config: ['BPF_SYSCALL'],
    live: true,
    stableForBoot: true,
    probe: (ctx) =>
      withAddon(ctx, (addon) => {
        try {
          addon.mapCreate(MAP_TYPES.array, 4, 8, 1)
          return available('probe', `created an array map (libbpf ${addon.libbpfVersion()})`)
        } catch (error) {
          const code = (error as BpfAddonError).code
          return unavailable('probe', code === 'ENOSYS' ? 'no bpf() syscall (ENOSYS)' : `bpf() refused: ${code}`)
        }
      }),
  },
  {
    name: 'btf',
    section: 'bpf',
    description: 'kernel BTF type information (/sys/kernel/btf/vmlinux)',
    minKernel: '5.4',
    config: ['DEBUG_INFO_BTF'],
    live: false,
    probe: async (ctx) =>
      (await ctx.files.exists('/sys/kernel/btf/vmlinux'))
        ? available('file', '/sys/kernel/btf/vmlinux exists')
        : unavailable('file', 'no /sys/kernel/btf/vmlinux'),
  },
  {
    name: 'bpf-jit',
    section: 'bpf',
    description: 'BPF programs compiled to machine code (net.core.bpf_jit_enable), not interpreted',
    minKernel: '3.16',
    live: false,
    setAtRunTime: 'the sysctl net.core.bpf_jit_enable',
    probe: bpfJit,
  },
  {
    name: 'bpf-tracepoint',
    section: 'bpf',
    description: 'BPF programs on tracepoints',
    minKernel: '4.7',
    config: ['BPF_EVENTS'],
    needs: ['bpf-syscall', 'tracefs'],
    live: true,
    stableForBoot: true,
    probe: loadAndAttach('probe_tracepoint', probeTracepoint),
  },
  {
    // Knobs as read-only globals (.rodata) need it; without it the tools load the build of their
    // objects with knobs in maps (bpf/Makefile, backends/bpf/bpf-tool.ts).
    name: 'bpf-global-data',
    section: 'bpf',
    description: 'BPF global data (.rodata/.data/.bss maps)',
    minKernel: '5.2',
    config: ['BPF_SYSCALL'],
    needs: ['bpf-syscall', 'bpf-tracepoint'],
    live: true,
    stableForBoot: true,
    probe: loadAndAttach('probe_global_data', undefined),
  },
  helper('probe_read', '4.7'),
  helper('ktime_get_ns', '4.7'),
  helper('get_current_comm', '4.7'),
  helper('get_stackid', '4.7'),
  {
    name: 'bpf-raw-tracepoint',
    section: 'bpf',
    description: 'BPF programs on raw tracepoints',
    minKernel: '4.17',
    config: ['BPF_EVENTS'],
    needs: ['bpf-syscall'],
    live: true,
    stableForBoot: true,
    probe: loadAndAttach('probe_raw_tracepoint', {kind: 'raw_tracepoint', name: PROBE_TRACEPOINT.name}),
  },
  {
    name: 'bpf-tp-btf',
    section: 'bpf',
    description: 'BPF programs on BTF-typed tracepoints (tp_btf)',
    minKernel: '5.5',
    config: ['DEBUG_INFO_BTF', 'BPF_EVENTS'],
    needs: ['bpf-syscall', 'btf'],
    live: true,
    stableForBoot: true,
    probe: loadAndAttach('probe_tp_btf', {kind: 'trace'}),
  },
  {
    name: 'bpf-kprobe',
    section: 'bpf',
    description: 'BPF programs on kprobes',
    minKernel: '4.1',
    config: ['KPROBES', 'BPF_EVENTS'],
    needs: ['bpf-syscall', 'tracefs'],
    live: true,
    stableForBoot: true,
    probe: loadAndAttach('probe_kprobe', probeKprobe),
  },
  {
    name: 'bpf-uprobe',
    section: 'bpf',
    description: 'BPF programs on uprobes (user-space function entry and return)',
    minKernel: '4.3',
    config: ['UPROBE_EVENTS', 'BPF_EVENTS'],
    needs: ['bpf-syscall', 'tracefs'],
    live: true,
    stableForBoot: true,
    probe: loadAndAttach('probe_uprobe', probeUprobe),
  },
  {
    name: 'bpf-kprobe-multi',
    section: 'bpf',
    description: 'BPF kprobe_multi links (many functions in one attach)',
    minKernel: '5.18',
    config: ['FPROBE'],
    needs: ['bpf-syscall'],
    live: true,
    stableForBoot: true,
    probe: loadAndAttach('probe_kprobe_multi', {kind: 'kprobe_multi', symbols: [PROBE_FUNCTION]}),
  },
  {
    name: 'bpf-fentry',
    section: 'bpf',
    description: 'BPF fentry/fexit programs (tracing via BTF trampolines)',
    minKernel: '5.5',
    config: ['DYNAMIC_FTRACE_WITH_DIRECT_CALLS'],
    needs: ['bpf-syscall', 'btf'],
    live: true,
    stableForBoot: true,
    probe: loadAndAttach('probe_fentry', {kind: 'trace'}, PROBE_FUNCTION),
  },
  {
    name: 'bpf-perf-event',
    section: 'bpf',
    description: 'BPF programs on perf events (sampling)',
    minKernel: '4.9',
    config: ['BPF_EVENTS'],
    needs: ['bpf-syscall', 'perf-event-open'],
    live: true,
    stableForBoot: true,
    // A cpu-clock event on CPU 0 at 1 Hz: it exists on every machine, virtual or not.
    probe: loadAndAttach('probe_perf_event', {kind: 'perf_event', type: 1, config: 0, cpu: 0, frequency: 1}),
  },
  mapType('hash', '3.19'),
  mapType('percpu-hash', '4.6'),
  mapType('array', '3.19'),
  mapType('percpu-array', '4.6'),
  mapType('stack-trace', '4.6'),
  mapType('perf-event-array', '4.3'),
  mapType('ringbuf', '5.8'),
]
