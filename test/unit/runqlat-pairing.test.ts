import {describe, expect, it} from 'vitest'

import type {RawEvent} from '../../backends/ftrace/ring-buffer.js'
import {parseTraceLine} from '../../backends/ftrace/trace-pipe.js'
import {WakeupPairing} from '../../tools/runqlat/ftrace.js'

const feed = (text: string) => {
  const pairing = new WakeupPairing('usecs')
  for (const line of text.split('\n').map(parseTraceLine)) if (line) pairing.line(line)
  return Object.fromEntries(pairing.take())
}

describe('runqlat from trace_pipe lines', () => {
  it('measures wakeup to switch-in, and a preempted task from switch-out to switch-in', () => {
    const slots = feed(`          <idle>-0       [000] dNh2.   100.000000: sched_wakeup: comm=a b pid=7 prio=120 target_cpu=000
          <idle>-0       [000] d..2.   100.000010: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=a b next_pid=7 next_prio=120
             a b-7       [000] d..2.   100.001000: sched_switch: prev_comm=a b prev_pid=7 prev_prio=120 prev_state=R+ ==> next_comm=c next_pid=8 next_prio=120
               c-8       [000] d..2.   100.001100: sched_switch: prev_comm=c prev_pid=8 prev_prio=120 prev_state=S ==> next_comm=a b next_pid=7 next_prio=120`)
    // 10 us (slot 3: 8..15) and 100 us (slot 6: 64..127)
    expect(slots).toEqual({3: 1, 6: 1})
  })

  // Linux 6.18 on the project's VMs records no switch out of the second CPU's idle task: a start
  // left waiting was matched to the task's next switch in, a wait that never was.
  it('drops the start of a task seen switching out while still waiting, not matching it to a later switch', () => {
    const slots = feed(`          <idle>-0       [001] dNh2.   100.000000: sched_wakeup: comm=a pid=7 prio=120 target_cpu=001
               a-7       [001] d..2.   100.002000: sched_switch: prev_comm=a prev_pid=7 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
          <idle>-0       [000] d..2.   100.500000: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=a next_pid=7 next_prio=120`)
    expect(slots).toEqual({})
  })

  // The same four events as the first test, as trace_pipe_raw gives them: prev_state a number,
  // preempted marked by the kernel's own bit (0x100 on 4.14+, 2048 on 4.9 with 2048 states).
  for (const marker of [0x100, 2048]) {
    it(`from trace_pipe_raw fields: runnable when no state bit below the marker (${marker}) is set`, () => {
      const pairing = new WakeupPairing('usecs')
      const ev = (event: string, timestamp: number, fields: Record<string, number>): RawEvent => ({event, pid: 0, cpu: 0, timestamp, fields})
      pairing.event(ev('sched_wakeup', 100, {pid: 7}), marker)
      pairing.event(ev('sched_switch', 100.00001, {prev_pid: 0, prev_state: 0, next_pid: 7}), marker)
      pairing.event(ev('sched_switch', 100.001, {prev_pid: 7, prev_state: marker, next_pid: 8}), marker)
      pairing.event(ev('sched_switch', 100.0011, {prev_pid: 8, prev_state: 1, next_pid: 7}), marker)
      // 8 switched out sleeping (S): it does not wait, so its next switch in is no latency.
      pairing.event(ev('sched_switch', 100.002, {prev_pid: 7, prev_state: 1, next_pid: 8}), marker)
      expect(Object.fromEntries(pairing.take())).toEqual({3: 1, 6: 1})
    })
  }
})
