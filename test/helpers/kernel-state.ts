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

async function bpfPrograms(): Promise<string[]> {
  const result = await execa('bpftool', ['prog', 'list', '--json'], {reject: false})
  if (result.failed) return [`<bpftool failed: ${result.shortMessage}>`]
  return (JSON.parse(result.stdout) as {id: number; name?: string; type: string}[]).map((p) => `${p.id}:${p.type}:${p.name ?? ''}`)
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
