import {readFile} from 'node:fs/promises'

import {Flags} from '@oclif/core'

import {DiagCommand} from '../src/command.js'
import {BadInputError} from '../src/errors.js'
import {type CapabilitiesReport, capabilitiesReport} from '../src/plan/report.js'
import {parseKernelConfigBytes} from '../src/probe/kernel-config.js'
import {parseKernelRelease} from '../src/probe/kernel-version.js'
import {type WhatIf, probeHost} from '../src/probe/probe.js'
import {renderCapabilities} from '../src/render/capabilities.js'
import {terminalStyle} from '../src/render/style.js'
import {NodeFiles} from '../src/system/files.js'

export default class Capabilities extends DiagCommand {
  static override summary = 'Report what this kernel can trace, and which backend each tool would use'
  static override description = `Probes the running kernel (tracefs, kprobes, hist triggers, BPF program and map types, BTF,
perf events, privileges) by trying each feature where trying is safe, and leaves nothing behind.
Each capability is available, unavailable or unknown, with the evidence it rests on.`
  static override examples = ['<%= config.bin %> capabilities', '<%= config.bin %> capabilities --json', '<%= config.bin %> capabilities --host-root /host', '<%= config.bin %> capabilities --refresh', '<%= config.bin %> capabilities --kernel-config /boot/config-6.1.0-50-cloud-amd64']

  static override flags = {
    'host-root': Flags.directory({
      summary: "Describe the host whose /proc, /sys and /boot are mounted under this directory",
      description: 'File evidence is read there; probes that act on the running kernel are reported as not run.',
    }),
    'kernel-config': Flags.file({
      summary: 'What-if: answer for a kernel that is not running, from its config file (plain or gzipped)',
      description: 'Nothing is probed: each capability is inferred from the config and the release (evidence config or version).',
      exclusive: ['host-root'],
    }),
    release: Flags.string({
      summary: 'With --kernel-config: the kernel release (default: the version in the config file\'s header)',
      dependsOn: ['kernel-config'],
    }),
    refresh: Flags.boolean({
      summary: 'Probe everything anew instead of reusing the answers cached earlier in this boot',
      description:
        "Program and map probes whose answer holds for a boot are cached in /run/diag (root only). --refresh starts that cache over, so what tools keep there (tcp_sock's calibrated offsets) is found anew too.",
    }),
  }

  async run(): Promise<CapabilitiesReport> {
    const {flags} = await this.parse(Capabilities)
    const hostRoot = flags['host-root']
    if (hostRoot !== undefined && !(await new NodeFiles(hostRoot).exists('/proc')))
      throw new BadInputError(`--host-root ${hostRoot} has no proc/ directory: mount the host's /proc there`)
    const whatIf = flags['kernel-config'] === undefined ? undefined : await readWhatIf(flags['kernel-config'], flags.release)
    const probe = await probeHost({hostRoot, whatIf, signal: this.abort.signal, refresh: flags.refresh}, this.undo)
    const report = capabilitiesReport(probe, new Date())
    if (!this.jsonEnabled()) this.log(renderCapabilities(report, terminalStyle()))
    return report
  }
}

async function readWhatIf(file: string, release: string | undefined): Promise<WhatIf> {
  const config = parseKernelConfigBytes(await readFile(file), file)
  if (config.symbols.size === 0) throw new BadInputError(`--kernel-config ${file} has no CONFIG_ lines: not a kernel config`)
  const chosen = release ?? config.version
  if (chosen === undefined) throw new BadInputError(`--kernel-config ${file} names no kernel version in its header: give --release`)
  if (parseKernelRelease(chosen) === undefined) throw new BadInputError(`--release ${chosen} is not a kernel release (as 4.19.0 or 6.1.0-50-cloud-amd64)`)
  return {config, release: chosen}
}
