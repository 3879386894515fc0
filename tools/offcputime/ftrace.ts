import type {OffcputimeOptions} from './tool.js'
import {switchStream} from '../../backends/ftrace/switch-stream.js'

/** offcputime from sched_switch events with their kernel stacks (the stacktrace option) and sched_wakeup, paired in diag. */
export const stream = switchStream<OffcputimeOptions>('offcputime')
