import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync} from 'node:fs'
import {release, tmpdir} from 'node:os'
import path from 'node:path'
import {gunzipSync} from 'node:zlib'

import {execa} from 'execa'

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

/**
 * What a kernel with this config has, for every capability a tool's candidates need. Features
 * that a config cannot settle (a refusal by policy, a binary on PATH) come from `observed`.
 */
export function capabilityTruths(config: Map<string, string>, observed: Record<string, boolean>): Map<string, boolean> {
  const has = (...names: string[]) => configured(config, ...names)
  const truths = new Map<string, boolean>(expectedFromConfig(config))
  for (const map of ['hash', 'array', 'percpu-hash', 'percpu-array', 'stack-trace', 'perf-event-array', 'ringbuf'])
    truths.set(`bpf-map-${map}`, has('BPF_SYSCALL'))
  truths.set('tracefs', true)
  truths.set('tracepoints', has('EVENT_TRACING'))
  truths.set('ftrace-instances', true)
  truths.set('perf-event-tracepoint', has('PERF_EVENTS', 'EVENT_TRACING'))
  truths.set('function-tracer', has('FUNCTION_TRACER', 'DYNAMIC_FTRACE'))
  truths.set('bpf-fentry', has('BPF_SYSCALL', 'BPF_JIT', 'DEBUG_INFO_BTF', 'DYNAMIC_FTRACE_WITH_DIRECT_CALLS'))
  truths.set('bpf-tp-btf', has('BPF_SYSCALL', 'BPF_EVENTS', 'DEBUG_INFO_BTF'))
  for (const [name, value] of Object.entries(observed)) truths.set(name, value)
  return truths
}

/** Whether a candidate with these needs must work here; undefined when a need has no truth. */
export function expectUsable(needs: string[], truths: Map<string, boolean>): boolean | undefined {
  if (needs.some((need) => !truths.has(need))) return undefined
  return needs.every((need) => truths.get(need))
}

/** Can a function filter be set in a private instance? Asked by the test, not by diag. */
export async function functionFilterWorks(): Promise<boolean> {
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-truth-'))
  await execa('mount', ['-t', 'tracefs', 'nodev', dir])
  const instance = path.join(dir, 'instances', `difftest-${process.pid}`)
  try {
    mkdirSync(instance)
    try {
      writeFileSync(path.join(instance, 'set_ftrace_filter'), 'vfs_read')
      writeFileSync(path.join(instance, 'set_ftrace_filter'), '')
      return true
    } catch {
      return false
    } finally {
      rmdirSync(instance)
    }
  } finally {
    await execa('umount', [dir])
    rmdirSync(dir)
  }
}

/**
 * Does an fentry program attach? Asked of bpftrace, a peer that shares no code with diag. Its
 * answer counts only when it is one: it ran, or it said kfuncs are not available here.
 */
export async function fentryWorks(): Promise<boolean | string> {
  const result = await execa('bpftrace', ['-e', 'kfunc:vfs_read { exit(); }'], {reject: false, timeout: 30_000})
  if ((result as {code?: string}).code === 'ENOENT') return 'bpftrace is not installed'
  if (result.exitCode === 0) return true
  if (/kfunc\/kretfunc not available/.test(String(result.stderr))) return false
  return `bpftrace failed for another reason: ${String(result.stderr).trim().split('\n').pop()}`
}

export async function perfToolWorks(): Promise<boolean> {
  return (await execa('perf', ['--version'], {reject: false})).exitCode === 0
}
