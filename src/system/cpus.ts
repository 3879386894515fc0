import {BackendError} from '../errors.js'
import type {HostFiles} from './files.js'

/** A kernel CPU list ("0-3,6,8-9\n", as in /sys/devices/system/cpu/online) as the CPU numbers. */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = []
  for (const part of text.trim().split(',').filter(Boolean)) {
    const range = /^(\d+)(?:-(\d+))?$/.exec(part)
    if (!range) throw new BackendError(`not a CPU list: "${text.trim()}"`)
    const first = Number(range[1])
    const last = range[2] === undefined ? first : Number(range[2])
    for (let cpu = first; cpu <= last; cpu++) cpus.push(cpu)
  }
  return cpus
}

/** The CPUs online now: a per-CPU perf event is opened on each. */
export async function onlineCpus(files: HostFiles): Promise<number[]> {
  return parseCpuList(await files.read('/sys/devices/system/cpu/online'))
}
