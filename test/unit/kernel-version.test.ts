import {describe, expect, it} from 'vitest'

import {kernelAtLeast, parseKernelRelease} from '../../src/probe/kernel-version.js'

describe('parseKernelRelease', () => {
  it.each([
    ['6.1.0-50-cloud-amd64', '6.1.0', '-50-cloud-amd64'],
    ['4.15.0-213-generic', '4.15.0', '-213-generic'],
    ['5.14.0-362.el9.x86_64', '5.14.0', '-362.el9.x86_64'],
    ['3.10.0-1160.el7.x86_64', '3.10.0', '-1160.el7.x86_64'],
    ['6.18.44-fc-v657', '6.18.44', '-fc-v657'],
    ['4.19', '4.19.0', ''],
    ['6.8.0-rc3+', '6.8.0', '-rc3+'],
    ['5.10.0-0.deb10.16-amd64', '5.10.0', '-0.deb10.16-amd64'],
    ['4.9.0-0.bpo.12-amd64', '4.9.0', '-0.bpo.12-amd64'],
    ['5.4.0-1045-aws', '5.4.0', '-1045-aws'],
    ['6.6.30-android15-8-g1234', '6.6.30', '-android15-8-g1234'],
    ['4.09.1', '4.9.1', ''],
  ])('%s is mainline %s', (release, version, suffix) => {
    expect(parseKernelRelease(`${release}\n`)).toEqual({release, version, suffix})
  })

  it.each(['', 'linux', 'v6.1', '6'])('refuses %j', (release) => {
    expect(parseKernelRelease(release)).toBeUndefined()
  })
})

describe('kernelAtLeast', () => {
  const kernel = parseKernelRelease('5.14.0-362.el9.x86_64')!
  it('compares with major.minor and full versions', () => {
    expect(kernelAtLeast(kernel, '5.14')).toBe(true)
    expect(kernelAtLeast(kernel, '5.5')).toBe(true)
    expect(kernelAtLeast(kernel, '5.15')).toBe(false)
    expect(kernelAtLeast(kernel, '2.6.27')).toBe(true)
    expect(kernelAtLeast(parseKernelRelease('4.4.0-210-generic')!, '4.7')).toBe(false)
  })
})
