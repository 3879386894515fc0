import {hostname} from 'node:os'

import type {HostProbe} from '../probe/probe.js'
import type {CapabilityResult} from '../probe/types.js'
import {type Route, route} from './route.js'
import {TOOLS} from '../../tools/index.js'

export const CAPABILITIES_SCHEMA_VERSION = 1

/** What `diag capabilities --json` prints; schema/capabilities.schema.json describes it. */
export interface CapabilitiesReport {
  schema: 'diag/capabilities'
  schemaVersion: number
  generatedAt: string
  host: {
    hostname: string | null
    hostRoot: string
    live: boolean
    /** A what-if (`--kernel-config`): a kernel that is not running, every answer inferred. */
    whatIf: boolean
    kernel: HostProbe['kernel']
    config: HostProbe['config']
  }
  capabilities: CapabilityResult[]
  tools: Route[]
  warnings: string[]
}

export function capabilitiesReport(probe: HostProbe, now: Date): CapabilitiesReport {
  return {
    schema: 'diag/capabilities',
    schemaVersion: CAPABILITIES_SCHEMA_VERSION,
    generatedAt: now.toISOString(),
    host: {
      // The hostname of the machine diag runs on says nothing about a --host-root tree.
      hostname: probe.live ? hostname() : null,
      hostRoot: probe.hostRoot,
      live: probe.live,
      whatIf: probe.whatIf ?? false,
      kernel: probe.kernel,
      config: probe.config,
    },
    capabilities: probe.capabilities,
    tools: TOOLS.map((tool) => route(tool, probe.capabilities)),
    warnings: probe.cleanupFailures.map((f) => `cleanup failed: ${f.description}: ${f.error}`),
  }
}
