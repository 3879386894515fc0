import type {OffcputimeOptions} from './tool.js'
import {switchRecord} from '../../backends/perf/switch-record.js'

/** offcputime from `perf record` of sched_switch (with call chains) and sched_wakeup on every CPU, paired in diag. */
export const record = switchRecord<OffcputimeOptions>()
