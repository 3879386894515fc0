import type {OffwaketimeOptions} from './tool.js'
import {switchStream} from '../../backends/ftrace/switch-stream.js'

/**
 * offwaketime from sched_switch and sched_waking events with the kernel stack the stacktrace
 * option records after each, paired in diag: each block's kernel stack joined with the kernel
 * stack recorded at its first sched_waking, the waker's. Kernel stacks only, on both sides.
 */
export const stream = switchStream<OffwaketimeOptions>('offwaketime', {wakers: true})
