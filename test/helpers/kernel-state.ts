import {mkdtempSync, readdirSync, readFileSync, rmdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'

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
