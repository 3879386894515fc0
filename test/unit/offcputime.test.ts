import {describe, expect, it} from 'vitest'

import {parsePerfTraceScript} from '../../backends/perf/perf-script.js'
import {BadInputError, EXIT} from '../../src/errors.js'
import {stackOfKey} from '../../src/symbols/stacks.js'
import {parseStateLetters, stateFilter, stateTextWanted, taskStates} from '../../src/tracefs/task-state.js'
import {type PairingOptions, SwitchPairing} from '../../src/sched/switch-pairing.js'
import {pairSamples} from '../../backends/perf/switch-record.js'
import {SCHED_SWITCH_PRINT_4_9, SCHED_SWITCH_PRINT_6} from '../helpers/sched-switch-formats.js'

const format = (print: string) => `name: sched_switch\nID: 1\nformat:\n\tfield:long prev_state;\toffset:32;\tsize:8;\tsigned:1;\n\n${print}\n`

describe("--state: task state letters from the kernel's sched_switch format", () => {
  it('reads the letters and bits of 6.x (the reported states, one bit each)', () => {
    const states = taskStates(format(SCHED_SWITCH_PRINT_6))
    expect(Object.fromEntries(states.bits)).toEqual({S: 1, D: 2, T: 4, t: 8, X: 16, Z: 32, P: 64, I: 128, R: 0})
    expect(states.marker).toBe(0x100)
  })

  it('reads the letters and bits of 4.9 (the raw task state: X and Z the other way round, no I)', () => {
    const states = taskStates(format(SCHED_SWITCH_PRINT_4_9))
    expect(Object.fromEntries(states.bits)).toEqual({S: 1, D: 2, T: 4, t: 8, Z: 16, X: 32, x: 64, K: 128, W: 256, P: 512, N: 1024, R: 0})
    expect(states.marker).toBe(2048)
  })

  it('turns letters into the mask the BPF program tests, "R" into the runnable flag', () => {
    const v6 = taskStates(format(SCHED_SWITCH_PRINT_6))
    expect(stateFilter(v6, ['D'])).toMatchObject({mask: 2, running: false, marker: 0x100})
    expect(stateFilter(v6, parseStateLetters('S,D'))).toMatchObject({mask: 3, running: false})
    expect(stateFilter(v6, parseStateLetters('RX'))).toMatchObject({mask: 16, running: true})
    expect(stateFilter(taskStates(format(SCHED_SWITCH_PRINT_4_9)), ['X'])).toMatchObject({mask: 32})
  })

  it('refuses a letter the kernel does not report (I on 4.9), and letters that are not letters, as bad input', () => {
    const refusal = (run: () => unknown) => {
      try {
        run()
      } catch (error) {
        return error
      }
      return undefined
    }
    const unknown = refusal(() => stateFilter(taskStates(format(SCHED_SWITCH_PRINT_4_9)), ['S', 'I']))
    expect(unknown).toBeInstanceOf(BadInputError)
    expect((unknown as BadInputError).exitCode).toBe(EXIT.badInput)
    expect((unknown as Error).message).toContain('--state I')
    for (const text of ['', 'S;', '1', 'S D+']) expect(refusal(() => parseStateLetters(text)), text).toBeInstanceOf(BadInputError)
    expect(parseStateLetters('S|D D')).toEqual(['S', 'D'])
  })

  it('matches states as the events print them', () => {
    expect(stateTextWanted('D', new Set(['D']))).toBe(true)
    expect(stateTextWanted('D|K', new Set(['K']))).toBe(true)
    expect(stateTextWanted('R+', new Set(['R']))).toBe(true)
    expect(stateTextWanted('S', new Set(['D']))).toBe(false)
  })
})

// `perf script -F comm,pid,tid,cpu,time,event,trace,ip,sym --ns` of the 6.18 VM: a comm padded on the
// left, a comm with spaces and digits, user frames at file offsets, an [unknown] frame and the
// zero that ends a user chain.
const PERF_SCRIPT = `     diag-offcpu  5325/5325  [001] 37486.473200003: sched:sched_switch: prev_comm=diag-offcpu prev_pid=5325 prev_prio=89 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
	ffffffff821f8298 __schedule
	ffffffff821f8c03 schedule
	ffffffff821ffb7e do_nanosleep
	ffffffff81000130 entry_SYSCALL_64_after_hwframe
	           cf503 clock_nanosleep@GLIBC_2.2.5
	            12a0 sleep_in_nanosleep
	            10c4 main
	    7f17a03398a8 [unknown]
	               0 [unknown]

node (vitest 1) 14039/14041 [001] 37486.483225069: sched:sched_wakeup: comm=diag-offcpu pid=5325 prio=89 target_cpu=001
	ffffffff813a82d5 ttwu_do_activate

node (vitest 1) 14039/14041 [001] 37486.483254302: sched:sched_switch: prev_comm=node (vitest 1) prev_pid=14041 prev_prio=120 prev_state=R ==> next_comm=diag-offcpu next_pid=5325 next_prio=89
	ffffffff821f8298 __schedule

     diag-offcpu  5325/5325  [001] 37486.484000000: sched:sched_switch: prev_comm=diag-offcpu prev_pid=5325 prev_prio=89 prev_state=D ==> next_comm=swapper/1 next_pid=0 next_prio=120
	ffffffff821f8298 __schedule
	ffffffff821f8c03 schedule
	ffffffff81112233 io_schedule
	            1300 wait_for_disk
	            10c4 main

     diag-offcpu  5325/5325  [001] 37486.494000000: sched:sched_wakeup: comm=diag-offcpu pid=5325 prio=89 target_cpu=001
	ffffffff813a82d5 ttwu_do_activate

     diag-offcpu  5325/5325  [001] 37486.495000000: sched:sched_switch: prev_comm=diag-offcpu prev_pid=5325 prev_prio=89 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
	ffffffff821f8298 __schedule
`

describe('the perf backend: perf script samples paired as the ftrace stream pairs its events', () => {
  const options: PairingOptions = {minBlockUs: 1, perPid: false, stacks: 'both'}
  const folded = (pairing: SwitchPairing) => [...pairing.take()].map(([key, us]) => stackOfKey(key, us)).map((s) => [s.frames.join(';'), Math.round(s.value)])

  it('parses each sample: the comm (spaces and all), pid, tid, cpu, time, event, body and frames', () => {
    const samples = parsePerfTraceScript(PERF_SCRIPT)
    expect(samples.map((s) => [s.comm, s.pid, s.tid, s.cpu, s.event])).toEqual([
      ['diag-offcpu', 5325, 5325, 1, 'sched_switch'],
      ['node (vitest 1)', 14039, 14041, 1, 'sched_wakeup'],
      ['node (vitest 1)', 14039, 14041, 1, 'sched_switch'],
      ['diag-offcpu', 5325, 5325, 1, 'sched_switch'],
      ['diag-offcpu', 5325, 5325, 1, 'sched_wakeup'],
      ['diag-offcpu', 5325, 5325, 1, 'sched_switch'],
    ])
    expect(samples[0].time).toBeCloseTo(37486.473200003, 9)
    expect(samples[0].frames.map((f) => f.symbol)).toContain('[unknown]')
    expect(samples[2].body).toBe('prev_comm=node (vitest 1) prev_pid=14041 prev_prio=120 prev_state=R ==> next_comm=diag-offcpu next_pid=5325 next_prio=89')
  })

  it('names a frame perf printed without a symbol [unknown], with or without a trailing space', () => {
    const header = '     diag-offcpu  5325/5325  [001] 37486.473200003: sched:sched_switch: prev_comm=diag-offcpu prev_pid=5325 prev_prio=89 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120'
    const [sample] = parsePerfTraceScript(`${header}\n\t    7f0a1b2c3d4e \n\t    7f0a1b2c3d50\n\n`)
    expect(sample.frames).toEqual([
      {address: 0x7f0a1b2c3d4en, symbol: '[unknown]'},
      {address: 0x7f0a1b2c3d50n, symbol: '[unknown]'},
    ])
  })

  it('folds user then kernel frames, keeps [unknown], and ends a block whose switch in is missing at its wakeup', () => {
    const pairing = new SwitchPairing(options, [5325])
    pairSamples(pairing, parsePerfTraceScript(PERF_SCRIPT))
    expect(folded(pairing)).toEqual([
      ['diag-offcpu;[unknown];main;sleep_in_nanosleep;clock_nanosleep@GLIBC_2.2.5;entry_SYSCALL_64_after_hwframe;do_nanosleep;schedule;__schedule', 10_054],
      ['diag-offcpu;main;wait_for_disk;io_schedule;schedule;__schedule', 10_000],
    ])
    expect(pairing.endedAtWakeup).toBe(1)
  })

  it('--state counts only the blocks that start in its states', () => {
    const sleeps = new SwitchPairing({...options, states: ['S']}, [5325])
    pairSamples(sleeps, parsePerfTraceScript(PERF_SCRIPT))
    expect(folded(sleeps).map(([frames]) => frames)).toEqual([expect.stringContaining('sleep_in_nanosleep')])
    const disk = new SwitchPairing({...options, states: ['D']}, [5325])
    pairSamples(disk, parsePerfTraceScript(PERF_SCRIPT))
    expect(folded(disk).map(([frames]) => frames)).toEqual([expect.stringContaining('wait_for_disk')])
  })

  it('--kernel-only and --user-only leave out the other frames', () => {
    const kernel = new SwitchPairing({...options, stacks: 'kernel'}, [5325])
    pairSamples(kernel, parsePerfTraceScript(PERF_SCRIPT))
    expect(folded(kernel)[1][0]).toBe('diag-offcpu;io_schedule;schedule;__schedule')
    const user = new SwitchPairing({...options, stacks: 'user'}, [5325])
    pairSamples(user, parsePerfTraceScript(PERF_SCRIPT))
    expect(folded(user)[1][0]).toBe('diag-offcpu;main;wait_for_disk')
  })
})
