import {DiagCommand} from '../../src/command.js'
import {fleetFlags} from '../../src/fleet/flags.js'
import {type FleetCapabilities, fleetCapabilities, renderFleetCapabilities} from '../../src/fleet/matrix.js'
import {runOnFleet} from '../../src/fleet/session.js'
import type {CapabilitiesReport} from '../../src/plan/report.js'

export default class FleetCapabilitiesCommand extends DiagCommand {
  static override summary = 'Report what the kernel of every host of an inventory can trace, grouped by identical profiles'
  static override description = `Connects to each host with the system ssh client (your ssh config, agent and known_hosts hold;
it never asks), copies the bundle (npm run bundle) to /var/tmp/diag-<version> where it is missing
or another build, runs \`diag capabilities --json\` there, and prints the hosts grouped by kernel
release, capabilities and the backend each tool would use. A host that cannot be reached or fails
gets its error in the matrix; the others go on. --json gives every host's full report.
Exit 0 when every host answered; 9 (as for \`diag fleet run\`) when one or more did not, after the
matrix (or the JSON) is printed in full.`
  static override examples = ['<%= config.bin %> fleet capabilities --hosts inventory.ini', '<%= config.bin %> fleet capabilities --hosts ~/.ssh/config --concurrency 50 --json']

  static override flags = fleetFlags

  async run(): Promise<FleetCapabilities> {
    const {flags} = await this.parse(FleetCapabilitiesCommand)
    const interactive = process.stderr.isTTY && !this.jsonEnabled()
    const {outcomes, bundle} = await runOnFleet(flags, {
      args: ['capabilities'],
      parse: (stdout) => JSON.parse(stdout) as CapabilitiesReport,
      title: 'capabilities',
      interactive,
      undo: this.undo,
      signal: this.abort.signal,
    })
    this.checkAborted()
    const fleet = fleetCapabilities(outcomes, bundle, new Date())
    if (!this.jsonEnabled()) this.log(renderFleetCapabilities(fleet))
    process.exitCode = fleet.exitCode
    return fleet
  }
}
