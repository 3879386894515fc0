import {afterAll, describe, expect, it} from 'vitest'

import {probeHost} from '../../src/probe/probe.js'
import {type Capability, type Section, available} from '../../src/probe/types.js'
import {UndoLog} from '../../src/system/undo.js'
import {NodeFiles} from '../../src/system/files.js'
import {FAKE_KERNELS, makeFakeHost} from '../helpers/fake-host.js'

/** A gate a probe waits on, opened by the test. */
function gate() {
  let open!: () => void
  const opened = new Promise<void>((resolve) => (open = resolve))
  return {open, opened}
}

describe('probing order', () => {
  const host = makeFakeHost(FAKE_KERNELS['5.15'])
  afterAll(() => host.remove())

  it('sections probe concurrently; one section in table order; a probe after what it needs; results in table order', async () => {
    const events: string[] = []
    const slow = gate()
    const capability = (name: string, section: Section, needs: string[] = [], wait?: Promise<void>): Capability => ({
      name,
      section,
      description: name,
      minKernel: null,
      live: true,
      needs,
      probe: async (ctx) => {
        events.push(`start ${name}`)
        // A probe sees the answers of what it needs.
        for (const need of needs) expect(ctx.result(need)?.status).toBe('available')
        await wait
        events.push(`end ${name}`)
        return available('probe', name)
      },
    })
    const capabilities = [
      capability('perf-tool', 'perf', [], slow.opened),
      capability('perf-after', 'perf'),
      capability('tracefs', 'tracefs'),
      capability('bpf-a', 'bpf'),
      capability('bpf-needs-perf', 'bpf', ['perf-tool']),
    ]
    const probing = probeHost({files: new NodeFiles(host.root), capabilities, cache: null, bpf: () => ({ok: false, reason: 'none', tried: []})}, new UndoLog())
    // While perf-tool waits, the other sections go on, up to what needs it.
    for (let i = 0; i < 500 && !events.includes('end bpf-a'); i++) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(events).toEqual(['start perf-tool', 'start tracefs', 'start bpf-a', 'end tracefs', 'end bpf-a'])
    slow.open()
    const probe = await probing
    expect(events.slice(5)).toEqual(['end perf-tool', 'start perf-after', 'start bpf-needs-perf', 'end perf-after', 'end bpf-needs-perf'])
    expect(probe.capabilities.map((c) => c.name)).toEqual(capabilities.map((c) => c.name))
  })
})
