import {existsSync, readFileSync} from 'node:fs'
import {release} from 'node:os'
import {gunzipSync} from 'node:zlib'

/**
 * What the running kernel has, read by the tests themselves from its build config, so that a
 * probe that wrongly says "no" (or "yes") is caught rather than trusted.
 */
export function hostConfig(): Map<string, string> | undefined {
  let text: string | undefined
  try {
    text = gunzipSync(readFileSync('/proc/config.gz')).toString()
  } catch {
    const boot = `/boot/config-${release()}`
    if (existsSync(boot)) text = readFileSync(boot, 'utf8')
  }
  if (!text) return undefined
  const symbols = new Map<string, string>()
  for (const match of text.matchAll(/^CONFIG_(\w+)=(.*)$/gm)) symbols.set(match[1], match[2])
  return symbols
}

export function configured(config: Map<string, string>, ...names: string[]): boolean {
  return names.every((name) => ['y', 'm'].includes(config.get(name) ?? 'n'))
}

/**
 * What a kernel built with this config must report, capability by capability. BTF in sysfs
 * follows DEBUG_INFO_BTF; the rest follows the symbols each feature is compiled from.
 */
export function expectedFromConfig(config: Map<string, string>): [string, boolean][] {
  const has = (...names: string[]) => configured(config, ...names)
  return [
    ['syscall-tracepoints', has('FTRACE_SYSCALLS')],
    ['hist-triggers', has('HIST_TRIGGERS')],
    ['synthetic-events', has('SYNTH_EVENTS')],
    ['function-profiler', has('FUNCTION_PROFILER')],
    ['function-graph-tracer', has('FUNCTION_GRAPH_TRACER')],
    ['kprobe-events', has('KPROBE_EVENTS')],
    ['kprobe-profile', has('KPROBE_EVENTS')],
    ['uprobe-events', has('UPROBE_EVENTS')],
    ['bpf-syscall', has('BPF_SYSCALL')],
    ['bpf-tracepoint', has('BPF_SYSCALL', 'BPF_EVENTS')],
    ['bpf-raw-tracepoint', has('BPF_SYSCALL', 'BPF_EVENTS')],
    ['bpf-perf-event', has('BPF_SYSCALL', 'BPF_EVENTS', 'PERF_EVENTS')],
    ['bpf-kprobe', has('BPF_SYSCALL', 'BPF_EVENTS', 'KPROBES')],
    ['bpf-kprobe-multi', has('BPF_SYSCALL', 'BPF_EVENTS', 'FPROBE')],
    ['perf-event-open', has('PERF_EVENTS')],
    ['btf', has('DEBUG_INFO_BTF')],
  ]
}
