import {readFile} from 'node:fs/promises'

import {DiagCommand} from '../../src/command.js'
import {localBundle} from '../../src/fleet/bundle.js'
import {onEveryHost} from '../../src/fleet/fleet.js'
import {fleetFlags} from '../../src/fleet/flags.js'
import {parseInventory} from '../../src/fleet/inventory.js'
import {type FleetCapabilities, fleetCapabilities, renderFleetCapabilities} from '../../src/fleet/matrix.js'
import {listrFleetProgress, plainFleetProgress} from '../../src/fleet/progress.js'
import {SshTransport} from '../../src/fleet/transport.js'
import type {CapabilitiesReport} from '../../src/plan/report.js'

export default class FleetCapabilitiesCommand extends DiagCommand {
  static override summary = 'Report what the kernel of every host of an inventory can trace, grouped by identical profiles'
  static override description = `Connects to each host with the system ssh client (your ssh config, agent and known_hosts hold;
it never asks), copies the bundle (npm run bundle) to /var/tmp/diag-<version> where it is missing
or another build, runs \`diag capabilities --json\` there, and prints the hosts grouped by kernel
release, capabilities and the backend each tool would use. A host that cannot be reached or fails
gets its error in the matrix; the others go on. --json gives every host's full report.`
  static override examples = ['<%= config.bin %> fleet capabilities --hosts inventory.ini', '<%= config.bin %> fleet capabilities --hosts ~/.ssh/config --concurrency 50 --json']

  static override flags = fleetFlags

  async run(): Promise<FleetCapabilities> {
    const {flags} = await this.parse(FleetCapabilitiesCommand)
    const {hosts} = parseInventory(await readFile(flags.hosts, 'utf8'), flags.hosts)
    const bundle = await localBundle(flags.bundle)
    const transport = new SshTransport({connectTimeout: flags['connect-timeout'], configFile: flags['ssh-config']})
    this.undo.push('close the ssh connections', () => transport.close())
    const interactive = process.stderr.isTTY && !this.jsonEnabled()
    const progress = interactive ? listrFleetProgress(hosts, 'capabilities') : plainFleetProgress((line) => process.stderr.write(`${line}\n`))
    const outcomes = await onEveryHost(hosts, ['capabilities'], (stdout) => JSON.parse(stdout) as CapabilitiesReport, {
      transport,
      bundle,
      concurrency: flags.concurrency,
      timeoutMs: flags.timeout * 1000,
      signal: this.abort.signal,
      events: progress.events,
    })
    await progress.done
    await this.undo.unwind()
    this.checkAborted()
    const fleet = fleetCapabilities(outcomes, {version: bundle.version, sha256: bundle.sha256}, new Date())
    if (!this.jsonEnabled()) this.log(renderFleetCapabilities(fleet))
    return fleet
  }
}
