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
  return parseConfig(text)
}

/** The key under which parseConfig keeps the release of the config's header, not a CONFIG_ symbol. */
const VERSION = '#version'

/**
 * A kernel config file as symbol -> value, and the release its header names ("# Linux/x86 4.9.337
 * Kernel Configuration"): features that have no config symbol of their own came with a release.
 */
export function parseConfig(text: string): Map<string, string> {
  const symbols = new Map<string, string>()
  for (const match of text.matchAll(/^CONFIG_(\w+)=(.*)$/gm)) symbols.set(match[1], match[2])
  const release = /^# Linux\/\S+ (\d+\.\d+)\S* Kernel Configuration/m.exec(text)?.[1]
  if (release) symbols.set(VERSION, release)
  return symbols
}

export function configured(config: Map<string, string>, ...names: string[]): boolean {
  return names.every((name) => ['y', 'm'].includes(config.get(name) ?? 'n'))
}

/** Whether the config is of this release or later; a config without a header counts as new. */
export function configAtLeast(config: Map<string, string>, release: string): boolean {
  const have = config.get(VERSION)
  if (!have) return true
  const [major, minor] = have.split('.').map(Number)
  const [wantMajor, wantMinor] = release.split('.').map(Number)
  return major > wantMajor || (major === wantMajor && minor >= wantMinor)
}

/**
 * What a kernel built with this config must report, capability by capability. BTF in sysfs
 * follows DEBUG_INFO_BTF; the rest follows the symbols each feature is compiled from.
 */
export function expectedFromConfig(config: Map<string, string>): [string, boolean][] {
  const has = (...names: string[]) => configured(config, ...names)
  const since = (release: string) => configAtLeast(config, release)
  // Before 4.11 the kprobe and uprobe event symbols had no S.
  const probeEvents = (kind: 'KPROBE' | 'UPROBE') => has(`${kind}_EVENTS`) || has(`${kind}_EVENT`)
  return [
    ['syscall-tracepoints', has('FTRACE_SYSCALLS')],
    ['hist-triggers', has('HIST_TRIGGERS')],
    ['synthetic-events', has('SYNTH_EVENTS')],
    ['function-profiler', has('FUNCTION_PROFILER')],
    ['function-graph-tracer', has('FUNCTION_GRAPH_TRACER')],
    ['kprobe-events', probeEvents('KPROBE')],
    ['kprobe-profile', probeEvents('KPROBE')],
    ['uprobe-events', probeEvents('UPROBE')],
    ['bpf-syscall', has('BPF_SYSCALL')],
    ['bpf-tracepoint', has('BPF_SYSCALL', 'BPF_EVENTS')],
    ['bpf-raw-tracepoint', has('BPF_SYSCALL', 'BPF_EVENTS') && since('4.17')],
    ['bpf-global-data', has('BPF_SYSCALL', 'BPF_EVENTS') && since('5.2')],
    ['bpf-helper-probe-read', has('BPF_SYSCALL', 'BPF_EVENTS')],
    ['bpf-helper-ktime-get-ns', has('BPF_SYSCALL', 'BPF_EVENTS')],
    ['bpf-helper-get-current-comm', has('BPF_SYSCALL', 'BPF_EVENTS')],
    ['bpf-helper-get-stackid', has('BPF_SYSCALL', 'BPF_EVENTS')],
    ['bpf-perf-event', has('BPF_SYSCALL', 'BPF_EVENTS', 'PERF_EVENTS')],
    ['bpf-kprobe', has('BPF_SYSCALL', 'BPF_EVENTS', 'KPROBES')],
    ['bpf-uprobe', has('BPF_SYSCALL', 'BPF_EVENTS') && probeEvents('UPROBE')],
    ['bpf-kprobe-multi', has('BPF_SYSCALL', 'BPF_EVENTS', 'FPROBE')],
    ['perf-event-open', has('PERF_EVENTS')],
    ['btf', has('DEBUG_INFO_BTF')],
    ['sched-waking-tracepoint', has('EVENT_TRACING') && since('4.3')],
    ['tcp-state-tracepoint', has('INET', 'EVENT_TRACING') && since('4.16')],
    ['tcp-probe-tracepoint', has('INET', 'EVENT_TRACING') && since('4.16')],
  ]
}

/**
 * What a kernel with this config has, for every capability a tool's candidates need. Features
 * that a config cannot settle (a refusal by policy, a binary on PATH) come from `observed`.
 */
export function capabilityTruths(config: Map<string, string>, observed: Record<string, boolean>): Map<string, boolean> {
  const has = (...names: string[]) => configured(config, ...names)
  const truths = new Map<string, boolean>(expectedFromConfig(config))
  for (const map of ['hash', 'array', 'percpu-hash', 'percpu-array', 'stack-trace', 'perf-event-array'])
    truths.set(`bpf-map-${map}`, has('BPF_SYSCALL'))
  truths.set('bpf-map-ringbuf', has('BPF_SYSCALL') && configAtLeast(config, '5.8'))
  truths.set('tracefs', true)
  truths.set('tracepoints', has('EVENT_TRACING'))
  // sock:sock_send_length/sock_recv_length came with 6.3, behind no config symbol of their own.
  truths.set('sock-length-tracepoints', has('NET', 'EVENT_TRACING') && configAtLeast(config, '6.3'))
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

/**
 * What this host has for every capability a candidate may need, from its config and from peers'
 * answers (never from diag's probe), or undefined without a readable config.
 */
export async function hostTruths(): Promise<Map<string, boolean> | undefined> {
  const config = hostConfig()
  if (!config) return undefined
  const fentry = await fentryWorks()
  const truths = capabilityTruths(config, {
    'function-tracer': await functionFilterWorks(),
    'perf-tool': await perfToolWorks(),
    btf: existsSync('/sys/kernel/btf/vmlinux'),
    ...(typeof fentry === 'boolean' ? {'bpf-fentry': fentry} : {}),
  })
  if (typeof fentry === 'string') truths.delete('bpf-fentry')
  return truths
}

/**
 * Why a candidate with these needs cannot be expected to run here (the test skips with it), or
 * undefined when it must run (and the test fails if it does not).
 */
export function skipReason(needs: string[], truths: Map<string, boolean> | undefined): string | undefined {
  if (!truths) return 'no kernel config to tell what this kernel has'
  const unknown = needs.filter((n) => !truths.has(n))
  if (unknown.length) return `no independent truth for ${unknown.join(', ')}`
  const lacking = needs.filter((n) => !truths.get(n))
  return lacking.length ? `this kernel lacks ${lacking.join(', ')}` : undefined
}

export async function perfToolWorks(): Promise<boolean> {
  return (await execa('perf', ['--version'], {reject: false})).exitCode === 0
}
