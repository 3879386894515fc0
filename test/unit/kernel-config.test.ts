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
