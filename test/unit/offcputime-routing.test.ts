import {describe, expect, it} from 'vitest'

import {BadInputError, EXIT} from '../../src/errors.js'
import {route} from '../../src/plan/route.js'
import {type AnyTool, type Candidate, optionRefusals} from '../../src/plan/tool.js'
import type {CapabilityResult} from '../../src/probe/types.js'
import {checkBeforeProbing} from '../../src/run.js'
import {findTool} from '../../tools/index.js'

/**
 * offcputime --state and its candidates: the BTF-typed sched_switch (tp_btf) hands the program the
 * task's raw state, not the reported bits the format's letters name (README, offcputime --state), so
 * tp_btf must be passed over for --state even on a kernel where it is the first choice.
 */
describe('offcputime --state passes over bpf-tp-btf', () => {
  const offcputime = findTool('offcputime') as AnyTool
  // A kernel where every candidate could run: only the options decide.
  const everything: CapabilityResult[] = [...new Set(offcputime.candidates.flatMap((c) => c.needs))].map((name) => ({
    name,
    section: 'bpf',
    description: name,
    minKernel: null,
    status: 'available',
    evidence: 'probe',
    detail: 'yes',
  }))
  const optionsOf = async (state?: string) => offcputime.options({args: {}, flags: state === undefined ? {} : {state}, command: undefined})
  const routeOf = async (state?: string, force?: string) => {
    const options = await optionsOf(state)
    return route(offcputime, everything, {force, refusals: (c: Candidate) => optionRefusals(c, options)})
  }

  it('chooses bpf-tp-btf without --state, and bpf-tracepoint with --state S or D, saying why', async () => {
    expect((await routeOf()).chosen?.id).toBe('bpf-tp-btf')
    for (const state of ['S', 'D', 'S,D']) {
      const decision = await routeOf(state)
      expect(decision.chosen?.id, `--state ${state}`).toBe('bpf-tracepoint')
      expect(decision.why).toBe('first usable; passed over bpf-tp-btf')
      expect(decision.candidates.find((c) => c.id === 'bpf-tp-btf')).toMatchObject({
        usable: false,
        chosen: false,
        reasons: ['reads the raw task state, not the states the sched_switch format names: not --state'],
      })
    }
  })

  it('the bpf backend forced with --state S runs the classic tracepoint program', async () => {
    expect((await routeOf('S', 'bpf')).chosen?.id).toBe('bpf-tracepoint')
  })

  it('--backend bpf-tp-btf --state S is bad input before the kernel is probed', async () => {
    const options = await optionsOf('S')
    const check = () => checkBeforeProbing(offcputime, options, {duration: 1, json: false, backend: 'bpf-tp-btf'}, {isRunning: () => true})
    expect(check).toThrow('offcputime --backend bpf-tp-btf cannot do this: bpf-tp-btf reads the raw task state, not the states the sched_switch format names: not --state')
    const error = (() => {
      try {
        check()
      } catch (thrown) {
        return thrown
      }
    })()
    expect(error).toBeInstanceOf(BadInputError)
    expect((error as BadInputError).exitCode).toBe(EXIT.badInput)
    // Without --state the same forced candidate is fine.
    expect(() => checkBeforeProbing(offcputime, {...options, states: undefined}, {duration: 1, json: false, backend: 'bpf-tp-btf'}, {isRunning: () => true})).not.toThrow()
  })
})
