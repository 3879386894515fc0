import type {OffwaketimeOptions} from './tool.js'
import {switchRecord} from '../../backends/perf/switch-record.js'

/**
 * offwaketime from `perf record` of sched_switch and sched_waking (with call chains) on every CPU,
 * paired in diag: each block's stacks joined with those perf recorded at its first sched_waking,
 * the waker's, user and kernel.
 */
export const record = switchRecord<OffwaketimeOptions>({wakers: true})
