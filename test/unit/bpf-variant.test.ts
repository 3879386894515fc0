import {existsSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {NO_GLOBAL_DATA, objectVariant} from '../../backends/bpf/bpf-tool.js'
import type {CapabilityResult} from '../../src/probe/types.js'
import {bpfObjectPath} from '../../src/system/paths.js'

const globalData = (status: CapabilityResult['status']): {capabilities: CapabilityResult[]} => ({
  capabilities: [{name: 'bpf-global-data', section: 'bpf', description: '', minKernel: '5.2', status, evidence: 'probe', detail: ''}],
})

const built = existsSync(bpfObjectPath(`syscount.${NO_GLOBAL_DATA}`))

describe.skipIf(!built)('the build of a BPF object a kernel loads (needs npm run build:bpf)', () => {
  it('is the one with globals where the probe found global data', () => {
    expect(objectVariant('syscount', globalData('available'))).toBe('syscount')
  })

  it('is the one with knobs in maps where global data is missing or could not be told', () => {
    expect(objectVariant('syscount', globalData('unavailable'))).toBe(`syscount.${NO_GLOBAL_DATA}`)
    expect(objectVariant('runqlat', globalData('unknown'))).toBe(`runqlat.${NO_GLOBAL_DATA}`)
  })

  it('stays the one with globals for objects built only so (tp_btf)', () => {
    expect(objectVariant('syscount.tp_btf', globalData('unavailable'))).toBe('syscount.tp_btf')
  })
})
