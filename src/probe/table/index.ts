import type {Capability} from '../types.js'
import {BPF_CAPABILITIES} from './bpf.js'
import {PERF_CAPABILITIES} from './perf.js'
import {PRIVILEGE_CAPABILITIES} from './privileges.js'
import {TRACEFS_CAPABILITIES} from './tracefs.js'

/** Every capability diag knows, in probing order: each one's `needs` come before it. */
export const CAPABILITIES: Capability[] = [
  ...PRIVILEGE_CAPABILITIES,
  ...TRACEFS_CAPABILITIES,
  ...PERF_CAPABILITIES,
  ...BPF_CAPABILITIES,
]
