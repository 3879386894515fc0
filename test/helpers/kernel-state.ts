import {mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, watch} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, expect} from 'vitest'

import {startDiag} from './cli.js'

/**
 * What diag promises to leave as it found: the tracing state and the BPF program list. Read
 * through a private tracefs mount, so that looking never changes whether /sys/kernel/tracing
 * is mounted (diag mounts it when it must and unmounts it after).
 */
export interface KernelState {
  tracingMounted: boolean
  tracing: Record<string, string>
  instances: string[]
  bpfPrograms: string[]
}

export const isRoot = process.getuid?.() === 0

function tracingMounted(): boolean {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === '/sys/kernel/tracing')
}

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    return `<${(error as NodeJS.ErrnoException).code}>`
  }
}

async function listBpfPrograms(): Promise<string[]> {
  const result = await execa('bpftool', ['prog', 'list', '--json'], {reject: false})
  if (result.failed) return [`<bpftool failed: ${result.shortMessage}>`]
  return (JSON.parse(result.stdout) as {id: number; name?: string; type: string}[]).map((p) => `${p.id}:${p.type}:${p.name ?? ''}`)
}

/**
 * The loaded BPF programs. The kernel frees the programs of a diag that just exited a little later
 * (some links, tp_btf's, only after an RCU grace period), so a non-empty list is read again for up
 * to two seconds; a host with programs of its own pays that wait.
 */
async function bpfPrograms(): Promise<string[]> {
  let programs = await listBpfPrograms()
  for (let i = 0; i < 20 && programs.length > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    programs = await listBpfPrograms()
  }
  return programs
}

export async function kernelState(): Promise<KernelState> {
  const mounted = tracingMounted()
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-state-'))
  try {
    await execa('mount', ['-t', 'tracefs', 'nodev', dir])
    try {
      const tracing: Record<string, string> = {}
      for (const file of ['current_tracer', 'set_event', 'kprobe_events', 'uprobe_events', 'dynamic_events', 'synthetic_events', 'function_profile_enabled', 'tracing_on'])
        tracing[file] = read(path.join(dir, file))
      for (const event of ['raw_syscalls/sys_enter', 'sched/sched_switch', 'block/block_rq_issue'])
        tracing[`events/${event}/trigger`] = read(path.join(dir, 'events', event, 'trigger'))
      return {tracingMounted: mounted, tracing, instances: readdirSync(path.join(dir, 'instances')), bpfPrograms: await bpfPrograms()}
    } finally {
      await execa('umount', [dir])
    }
  } finally {
    rmdirSync(dir)
  }
}

/** What the watcher saw a process make while it ran, one line each; empty when it made nothing. */
export interface KernelWatch {
  stop(): Promise<string[]>
}

// What a process holds that is a kernel tracing object: BPF programs, maps and links, perf events.
const KERNEL_OBJECT_FD = /^anon_inode:(bpf[-_]\w+|\[perf_event\])/

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) => read(`/proc/${pid}/task/${task}/children`).split(/\s+/).filter((x) => /^\d+$/.test(x)).map(Number))
  } catch {
    return []
  }
}

function fdsOf(pid: number): string[] {
  const found: string[] = []
  let fds: string[]
  try {
    fds = readdirSync(`/proc/${pid}/fd`)
  } catch {
    return found
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`)
      if (KERNEL_OBJECT_FD.test(target)) found.push(target)
    } catch {
      // closed meanwhile
    }
  }
  return found
}

/**
 * Watches the kernel's tracing state WHILE something runs, not only before and after: inotify on
 * the instances directory (an instance made and removed between two looks is still seen), and a
 * tight poll of the instances, every definition file, diag's private tracefs mounts, the BPF and
 * perf event fds of process `pid()` (once it is known), and any child it starts. `kernelState`
 * compares before with after; this catches what was made and undone in between.
 */
export async function watchKernel(pid: () => number | undefined): Promise<KernelWatch> {
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-watch-'))
  await execa('mount', ['-t', 'tracefs', 'nodev', dir])
  const seen = new Set<string>()
  const instances = watch(path.join(dir, 'instances'), (event, name) => seen.add(`instances: ${event} ${name}`))
  const definitions = ['kprobe_events', 'uprobe_events', 'dynamic_events', 'synthetic_events']
  const baseline = Object.fromEntries(definitions.map((f) => [f, read(path.join(dir, f))]))
  const baseInstances = new Set(readdirSync(path.join(dir, 'instances')))
  let running = true
  const look = () => {
    for (const name of readdirSync(path.join(dir, 'instances'))) if (!baseInstances.has(name)) seen.add(`instance ${name}`)
    for (const f of definitions) if (read(path.join(dir, f)) !== baseline[f]) seen.add(`${f} changed`)
    for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) if (/\/diag-\d+-tracefs-/.test(line)) seen.add(`mount ${line.split(' ')[1]}`)
    const root = pid()
    if (root === undefined) return
    for (const fd of fdsOf(root)) seen.add(`fd: ${fd}`)
    for (const child of childrenOf(root)) seen.add(`child process: ${read(`/proc/${child}/cmdline`).replace(/\0/g, ' ').trim()}`)
  }
  const loop = (async () => {
    while (running) {
      look()
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      look()
      instances.close()
      await execa('umount', [dir])
      rmdirSync(dir)
      return [...seen]
    },
  }
}

/**
 * Registers, in the enclosing describe block, a check that the block leaves tracing and the BPF
 * program list exactly as it found them.
 */
export function expectKernelStateKept(): void {
  let before: KernelState
  beforeAll(async () => {
    before = await kernelState()
  })
  afterAll(async () => {
    expect(await kernelState()).toEqual(before)
  })
}

/** Runs diag while watching the kernel: what it made at any moment, not only what it left. */
export async function watched(args: string[]): Promise<{exitCode: number | undefined; stderr: string; made: string[]}> {
  let pid: number | undefined
  const watch = await watchKernel(() => pid)
  const tracer = startDiag(args)
  pid = tracer.pid
  const run = await tracer
  return {exitCode: run.exitCode, stderr: String(run.stderr), made: await watch.stop()}
}
