import {existsSync, readFileSync} from 'node:fs'
import {gunzipSync} from 'node:zlib'

import {describe, expect, it} from 'vitest'

import {configVerdict, parseKernelConfig} from '../../src/probe/kernel-config.js'

const TEXT = `#
# Automatically generated file; DO NOT EDIT.
CONFIG_BPF_SYSCALL=y
CONFIG_KPROBES_MODULE=m
# CONFIG_KPROBES is not set
CONFIG_LOCALVERSION="-cloud"
CONFIG_NR_CPUS=64
`

describe('kernel config', () => {
  const config = parseKernelConfig(TEXT, 'test')
  it('reads set, module, unset and string symbols', () => {
    expect(config.symbols.get('BPF_SYSCALL')).toBe('y')
    expect(config.symbols.get('KPROBES_MODULE')).toBe('m')
    expect(config.symbols.get('KPROBES')).toBe('n')
    expect(config.symbols.get('LOCALVERSION')).toBe('-cloud')
  })
  it('gives a verdict only when the config speaks', () => {
    expect(configVerdict(config, ['BPF_SYSCALL', 'KPROBES_MODULE'])).toBe('set')
    expect(configVerdict(config, ['BPF_SYSCALL', 'KPROBES'])).toBe('unset')
    expect(configVerdict(config, ['BPF_SYSCALL', 'ABSENT'])).toBe('unknown')
    expect(configVerdict(undefined, ['BPF_SYSCALL'])).toBe('unknown')
  })
})

/** The symbols as a regular expression per line reads them: what parseKernelConfig must agree with. */
function byRegex(text: string): Map<string, string> {
  const symbols = new Map<string, string>()
  for (const line of text.split('\n')) {
    const set = /^CONFIG_(\w+)=(.*)$/.exec(line)
    if (set) symbols.set(set[1], set[2].replace(/^"(.*)"$/, '$1'))
    const unset = /^# CONFIG_(\w+) is not set$/.exec(line)
    if (unset) symbols.set(unset[1], 'n')
  }
  return symbols
}

describe('kernel config parsing without a regular expression per line', () => {
  it('reads odd lines as the line-by-line regular expressions do', () => {
    const odd = ['CONFIG_=x', 'CONFIG_A B=1', 'CONFIG_NOVALUE', '# CONFIG_X is not set, really', '#CONFIG_Y is not set', 'CONFIG_EMPTY=', 'CONFIG_QUOTE="', 'CONFIG_EQ=a=b', ' CONFIG_SPACE=y', 'CONFIG_LAST=y'].join('\n')
    expect(parseKernelConfig(odd, 'odd').symbols).toEqual(byRegex(odd))
    expect(parseKernelConfig(`${TEXT}\n\n`, 'blank lines').symbols).toEqual(byRegex(TEXT))
  })

  // A line without "=" after a symbol took the text up to it as a value.
  it('reads a CONFIG_ line without "=" as no symbol, wherever it is', () => {
    for (const text of ['CONFIG_A=y\nCONFIG_FOO\n', 'CONFIG_A=y\nCONFIG_FOO', 'CONFIG_FOO\nCONFIG_A=y'])
      expect(parseKernelConfig(text, 'no equals').symbols, JSON.stringify(text)).toEqual(byRegex(text))
  })

  it('reads a config with CRLF line ends as one with LF', () => {
    expect(parseKernelConfig(TEXT.replaceAll('\n', '\r\n'), 'crlf').symbols).toEqual(parseKernelConfig(TEXT, 'lf').symbols)
  })

  const kernels = process.env.DIAG_KERNELS ?? '/work/shared/kernels'
  const configs = ['debian-6.1-cloud', 'nobpf-6.1', 'linux-4.9'].map((k) => `${kernels}/${k}/config`).filter((f) => existsSync(f))
  if (existsSync('/proc/config.gz')) configs.push('/proc/config.gz')
  it.skipIf(configs.length === 0)('agrees with them on every symbol of the lab kernels\' configs and this host\'s', () => {
    for (const file of configs) {
      const bytes = readFileSync(file)
      const text = (file.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8')
      const config = parseKernelConfig(text, file)
      expect(config.symbols.size, file).toBeGreaterThan(1000)
      expect(config.symbols, file).toEqual(byRegex(text))
      expect(config.version, file).toMatch(/^\d+\.\d+\.\d+/)
    }
  })
})
