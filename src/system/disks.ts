import type {HostFiles} from './files.js'

/**
 * Names of block devices by the kernel's internal dev_t (major << 20 | minor), the form block
 * tracepoints record, from /sys/class/block/<name>/dev ("major:minor").
 */
export async function diskNames(files: HostFiles): Promise<Map<number, string>> {
  const names = new Map<number, string>()
  const entries = await files.list('/sys/class/block').catch(() => [])
  for (const name of entries) {
    const dev = (await files.read(`/sys/class/block/${name}/dev`).catch(() => '')).trim()
    const [major, minor] = dev.split(':').map(Number)
    if (Number.isInteger(major) && Number.isInteger(minor)) names.set(major * 2 ** 20 + minor, name)
  }
  return names
}

export function diskLabel(names: Map<number, string>, dev: number): string {
  return names.get(dev) ?? `${Math.floor(dev / 2 ** 20)}:${dev % 2 ** 20}`
}
