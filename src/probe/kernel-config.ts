import {gunzipSync} from 'node:zlib'

import type {HostFiles} from '../system/files.js'

/** A kernel's build configuration: symbol (without CONFIG_) to value, 'n' for "is not set". */
export interface KernelConfig {
  source: string
  symbols: Map<string, string>
  /** The version in the file's header ("# Linux/x86 6.1.176 Kernel Configuration"), when there is one. */
  version?: string
}

/**
 * Reads the symbols line by line with plain string searches rather than a regular expression per
 * line, over a distro config's ten thousand lines in every run that probes (its share of a cached
 * `capabilities` run was not timed on its own).
 */
export function parseKernelConfig(text: string, source: string): KernelConfig {
  const symbols = new Map<string, string>()
  for (let start = 0; start < text.length; ) {
    const newline = text.indexOf('\n', start)
    const end = newline < 0 ? text.length : text[newline - 1] === '\r' ? newline - 1 : newline
    if (text.startsWith('CONFIG_', start)) {
      const equals = text.indexOf('=', start)
      // On this line only: a line without "=" is no symbol.
      const name = equals >= 0 && equals < end ? text.slice(start + 7, equals) : ''
      if (SYMBOL.test(name)) {
        const value = text.slice(equals + 1, end)
        symbols.set(name, value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value)
      }
    } else if (text.startsWith('# CONFIG_', start) && text.endsWith(' is not set', end)) {
      const name = text.slice(start + 9, end - 11)
      if (SYMBOL.test(name)) symbols.set(name, 'n')
    }
    start = newline < 0 ? text.length : newline + 1
  }
  const version = /^# Linux\/\S+ (\d+\.\d+\.\d+\S*) Kernel Configuration\r?$/m.exec(text)?.[1]
  return {source, symbols, ...(version ? {version} : {})}
}

const SYMBOL = /^\w+$/

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
