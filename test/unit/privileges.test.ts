import {describe, expect, it} from 'vitest'

import {EXIT} from '../../src/errors.js'
import {noRouteError, route} from '../../src/plan/route.js'
import {findTool} from '../../tools/index.js'
import {type Candidate, optionRefusals} from '../../src/plan/tool.js'
import {probeHost} from '../../src/probe/probe.js'
import {type Capability, unavailable} from '../../src/probe/types.js'
import {UndoLog} from '../../src/system/undo.js'
import {FAKE_KERNELS, makeFakeHost} from '../helpers/fake-host.js'

const noAddon = () => ({ok: false as const, reason: 'no addon in unit tests', tried: []})

// A probe the kernel refuses with EPERM, and one whose config says it is not built.
const TABLE: Capability[] = [
  {name: 'bpf-syscall', section: 'bpf', description: 'bpf()', minKernel: '3.18', config: ['BPF_SYSCALL'], live: false, probe: () => unavailable('probe', 'bpf() refused: EPERM')},
  {name: 'bpf-map-hash', section: 'bpf', description: 'hash maps', minKernel: '3.19', needs: ['bpf-syscall'], live: false, probe: () => unavailable('probe', 'never run')},
]

describe('without privileges', () => {
  it('an EPERM is unknown (what the user may not see), and so is what needs it; with root it is unavailable', async () => {
    const host = makeFakeHost(FAKE_KERNELS['5.15'])
    const probe = (privileged: boolean) => probeHost({hostRoot: host.root, bpf: noAddon, capabilities: TABLE, privileged}, new UndoLog())
    const user = (await probe(false)).capabilities
    expect(user[0]).toMatchObject({name: 'bpf-syscall', status: 'unknown', needsPrivilege: expect.stringContaining('CAP_BPF')})
    expect(user[1]).toMatchObject({name: 'bpf-map-hash', status: 'unknown', needsPrivilege: expect.stringContaining('CAP_BPF')})
    const root = (await probe(true)).capabilities
    host.remove()
    expect(root[0]).toMatchObject({name: 'bpf-syscall', status: 'unavailable'})
    expect(root[0].needsPrivilege).toBeUndefined()
  })

  it('a tool with no route for lack of privilege fails with exit 4, saying what is needed', () => {
    const syscount = findTool('syscount')!
    const hidden = {status: 'unknown' as const, evidence: 'probe' as const, detail: 'bpf() refused: EPERM', needsPrivilege: 'root, or CAP_BPF and CAP_PERFMON'}
    const capabilities = [...new Set(syscount.candidates.flatMap((c) => c.needs))].map((name) => ({name, section: 'bpf' as const, description: name, minKernel: null, ...hidden}))
    const error = noRouteError(route(syscount, capabilities))
    expect(error.exitCode).toBe(EXIT.permission)
    expect(error.message).toMatch(/needs what uid \d+ lacks: root, or CAP_BPF and CAP_PERFMON\. Run diag as root\./)
  })
})

describe('syscount --by and the candidates', () => {
  const syscount = findTool('syscount')!
  const all = [...new Set(syscount.candidates.flatMap((c) => c.needs))].map((name) => ({
    name,
    section: 'bpf' as const,
    description: name,
    minKernel: null,
    status: 'available' as const,
    evidence: 'probe' as const,
    detail: 'yes',
  }))

  it('passes over the candidates that cannot count by process (hist keys by thread, perf stat by syscall)', () => {
    const by = (value: string) => ({force: 'ftrace', refusals: (c: Candidate) => optionRefusals(c, {by: value})})
    const decision = route(syscount, all, by('process'))
    expect(decision.chosen?.id).toBe('ftrace-stream')
    expect(decision.candidates.find((c) => c.id === 'ftrace-hist')?.reasons).toEqual(['counts by syscall or thread only, not --by process'])
    expect(route(syscount, all, by('thread')).chosen?.id).toBe('ftrace-hist')
  })

  it('says why a forced backend cannot count by it (refused before probing: run.ts)', () => {
    const perf = syscount.candidates.find((c) => c.id === 'perf-stat')!
    expect(optionRefusals(perf, {by: 'process'})).toEqual(['counts by syscall only, not --by process'])
  })
})
