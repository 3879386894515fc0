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
