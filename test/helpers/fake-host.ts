import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {gzipSync} from 'node:zlib'

/**
 * A host tree laid out as a given kernel lays out /proc, /sys and /boot, for --host-root probes.
 * The layouts follow what those kernels really had: debugfs-only tracing before 4.1, no hist
 * trigger before 4.7, synthetic events from 4.17, vmlinux BTF in sysfs from 5.4.
 */
export interface FakeKernel {
  release: string
  /** Where tracing files are: tracefs' own mount point, debugfs' tracing/, or nowhere. */
  tracing: 'tracefs' | 'debugfs' | 'none'
  configAt: 'proc' | 'boot' | 'none'
  config: Record<string, string>
  tracers: string[]
  /** Files and directories present in the tracing directory. */
  tracingFiles: string[]
  /** What events/<event>/trigger lists; undefined for kernels before triggers (3.14). */
  triggers?: string[]
  events: string[]
  btf: boolean
  readme?: string
  /** What /proc/sys/net/core/bpf_jit_enable reads; absent when the kernel has no such file. */
  bpfJit?: string
}

export function makeFakeHost(kernel: FakeKernel): {root: string; remove: () => void} {
  const root = mkdtempSync(path.join(tmpdir(), `diag-fake-${kernel.release}-`))
  const put = (file: string, text: string | Buffer) => {
    const full = path.join(root, file)
    mkdirSync(path.dirname(full), {recursive: true})
    writeFileSync(full, text)
  }
  put('proc/sys/kernel/osrelease', `${kernel.release}\n`)
  put('proc/sys/kernel/perf_event_paranoid', '2\n')
  put('proc/filesystems', 'nodev\tsysfs\nnodev\tproc\n')
  const configText = Object.entries(kernel.config)
    .map(([k, v]) => (v === 'n' ? `# CONFIG_${k} is not set` : `CONFIG_${k}=${v}`))
    .join('\n')
  if (kernel.configAt === 'proc') put('proc/config.gz', gzipSync(configText))
  if (kernel.configAt === 'boot') put(`boot/config-${kernel.release}`, configText)
  if (kernel.btf) put('sys/kernel/btf/vmlinux', Buffer.alloc(16))
  if (kernel.bpfJit !== undefined) put('proc/sys/net/core/bpf_jit_enable', `${kernel.bpfJit}\n`)
  mkdirSync(path.join(root, 'sys/kernel/debug'), {recursive: true})
  if (kernel.tracing !== 'none') {
    const dir = kernel.tracing === 'tracefs' ? 'sys/kernel/tracing' : 'sys/kernel/debug/tracing'
    put(`${dir}/trace`, '')
    put(`${dir}/current_tracer`, 'nop\n')
    put(`${dir}/available_tracers`, `${kernel.tracers.join(' ')}\n`)
    if (kernel.readme) put(`${dir}/README`, kernel.readme)
    for (const file of kernel.tracingFiles) {
      if (file.endsWith('/')) mkdirSync(path.join(root, dir, file), {recursive: true})
      else put(`${dir}/${file}`, '')
    }
    kernel.events.forEach((event, i) => {
      put(`${dir}/events/${event}/id`, `${100 + i}\n`)
      put(`${dir}/events/${event}/enable`, '0\n')
      if (kernel.triggers) put(`${dir}/events/${event}/trigger`, `# Available triggers:\n# ${kernel.triggers.join(' ')}\n`)
    })
  }
  return {root, remove: () => rmSync(root, {recursive: true, force: true})}
}

const OLD_TRACERS = ['blk', 'function_graph', 'wakeup_dl', 'wakeup_rt', 'wakeup', 'function', 'nop']
const EVENTS = ['sched/sched_process_fork', 'sched/sched_switch', 'raw_syscalls/sys_enter', 'syscalls/sys_enter_getppid']
const BASE_TRIGGERS = ['traceon', 'traceoff', 'snapshot', 'stacktrace', 'enable_event', 'disable_event']
const FTRACE_CONFIG = {
  FTRACE: 'y',
  EVENT_TRACING: 'y',
  FTRACE_SYSCALLS: 'y',
  FUNCTION_TRACER: 'y',
  DYNAMIC_FTRACE: 'y',
  FUNCTION_GRAPH_TRACER: 'y',
  FUNCTION_PROFILER: 'y',
  KPROBES: 'y',
  UPROBE_EVENTS: 'y',
  PERF_EVENTS: 'y',
}
const OLD_FILES = ['function_profile_enabled', 'kprobe_events', 'kprobe_profile', 'uprobe_events', 'instances/']

const KERNEL_4_1: FakeKernel = {
  release: '4.1.12-124.48.3.el7uek.x86_64',
  tracing: 'debugfs',
  configAt: 'boot',
  config: {...FTRACE_CONFIG, KPROBE_EVENT: 'y', BPF_SYSCALL: 'y', BPF_EVENTS: 'y'},
  tracers: OLD_TRACERS,
  tracingFiles: OLD_FILES,
  triggers: BASE_TRIGGERS,
  events: EVENTS,
  btf: false,
}

/** Kernels as distributions shipped them, oldest first. */
export const FAKE_KERNELS: Record<string, FakeKernel> = {
  '3.10': {
    release: '3.10.0-1160.el7.x86_64',
    tracing: 'debugfs',
    configAt: 'boot',
    // Before 4.11 the kprobe events symbol was KPROBE_EVENT; diag must not read its absence as "no".
    config: {...FTRACE_CONFIG, KPROBE_EVENT: 'y'},
    tracers: OLD_TRACERS,
    tracingFiles: OLD_FILES,
    events: EVENTS,
    btf: false,
  },
  '4.1': KERNEL_4_1,
  // Ubuntu 16.04's: laid out as 4.1 was (hist triggers came with 4.7).
  '4.4': {...KERNEL_4_1, release: '4.4.0-210-generic'},
  '4.9': {
    release: '4.9.0-19-amd64',
    tracing: 'debugfs',
    configAt: 'boot',
    config: {...FTRACE_CONFIG, KPROBE_EVENT: 'y', BPF_SYSCALL: 'y', BPF_EVENTS: 'y', HIST_TRIGGERS: 'y', BPF_JIT: 'y'},
    tracers: OLD_TRACERS,
    tracingFiles: OLD_FILES,
    triggers: [...BASE_TRIGGERS, 'hist'],
    events: EVENTS,
    btf: false,
    // Built, but off until sysctl net.core.bpf_jit_enable=1, as Debian 9 booted.
    bpfJit: '0',
  },
  '4.18': {
    release: '4.18.0-553.el8_10.x86_64',
    tracing: 'tracefs',
    configAt: 'boot',
    // BPF_JIT is built, but this tree has no bpf_jit_enable to say whether it is on (a container's own network namespace hides it).
    config: {...FTRACE_CONFIG, KPROBE_EVENTS: 'y', BPF_SYSCALL: 'y', BPF_EVENTS: 'y', HIST_TRIGGERS: 'y', DEBUG_INFO_BTF: 'n', BPF_JIT: 'y'},
    tracers: OLD_TRACERS,
    tracingFiles: [...OLD_FILES, 'synthetic_events'],
    triggers: [...BASE_TRIGGERS, 'hist'],
    events: EVENTS,
    btf: false,
  },
  '5.15': {
    release: '5.15.0-125-generic',
    tracing: 'tracefs',
    configAt: 'proc',
    config: {
      ...FTRACE_CONFIG,
      KPROBE_EVENTS: 'y',
      DYNAMIC_EVENTS: 'y',
      BPF_SYSCALL: 'y',
      BPF_EVENTS: 'y',
      HIST_TRIGGERS: 'y',
      SYNTH_EVENTS: 'y',
      DEBUG_INFO_BTF: 'y',
      DYNAMIC_FTRACE_WITH_DIRECT_CALLS: 'y',
      FPROBE: 'n',
    },
    tracers: OLD_TRACERS,
    tracingFiles: [...OLD_FILES, 'synthetic_events', 'dynamic_events'],
    triggers: [...BASE_TRIGGERS, 'hist'],
    events: EVENTS,
    btf: true,
    bpfJit: '1',
    readme: '  hist trigger modifiers:\n\t    .buckets=size  display values in groups of size\n',
  },
}
