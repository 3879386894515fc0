import {gunzipSync} from 'node:zlib'

import type {HostFiles} from '../system/files.js'

/** A kernel's build configuration: symbol (without CONFIG_) to value, 'n' for "is not set". */
export interface KernelConfig {
  source: string
  symbols: Map<string, string>
  /** The version in the file's header ("# Linux/x86 6.1.176 Kernel Configuration"), when there is one. */
  version?: string
}

export function parseKernelConfig(text: string, source: string): KernelConfig {
  const symbols = new Map<string, string>()
  for (const line of text.split('\n')) {
    const set = /^CONFIG_(\w+)=(.*)$/.exec(line)
    if (set) {
      symbols.set(set[1], set[2].replace(/^"(.*)"$/, '$1'))
      continue
    }
    const unset = /^# CONFIG_(\w+) is not set$/.exec(line)
    if (unset) symbols.set(unset[1], 'n')
  }
  const version = /^# Linux\/\S+ (\d+\.\d+\.\d+\S*) Kernel Configuration$/m.exec(text)?.[1]
  return {source, symbols, ...(version ? {version} : {})}
}

/** A config file as distros ship it (/boot/config-*), or gzipped as /proc/config.gz gives it. */
export function parseKernelConfigBytes(bytes: Buffer, source: string): KernelConfig {
  const gzipped = bytes.length > 2 && bytes[0] === 0x1f && bytes[1] === 0x8b
  return parseKernelConfig((gzipped ? gunzipSync(bytes) : bytes).toString('utf8'), source)
}

/** The running kernel's config, from /proc/config.gz or /boot/config-<release>, if either exists. */
export async function readKernelConfig(files: HostFiles, release: string | undefined): Promise<KernelConfig | undefined> {
  try {
    const text = gunzipSync(await files.readBytes('/proc/config.gz')).toString('utf8')
    return parseKernelConfig(text, '/proc/config.gz')
  } catch {
    // not built with IKCONFIG_PROC: try the distro's copy
  }
  if (release) {
    const bootConfig = `/boot/config-${release}`
    try {
      return parseKernelConfig(await files.read(bootConfig), bootConfig)
    } catch {
      // no config to go on
    }
  }
  return undefined
}

export type ConfigVerdict = 'set' | 'unset' | 'unknown'

/** 'set' when every symbol is y or m, 'unset' when any is n, 'unknown' when the config is silent. */
export function configVerdict(config: KernelConfig | undefined, names: string[]): ConfigVerdict {
  if (!config || names.length === 0) return 'unknown'
  const values = names.map((name) => config.symbols.get(name))
  if (values.includes('n')) return 'unset'
  if (values.every((value) => value === 'y' || value === 'm')) return 'set'
  return 'unknown'
}
