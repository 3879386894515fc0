import {Flags} from '@oclif/core'

/** The flags every `diag fleet` command shares: where the hosts are, and how to reach them. */
export const fleetFlags = {
  hosts: Flags.file({
    summary: 'The inventory: a list of [user@]host[:port], an OpenSSH config (its Host names), or an Ansible inventory (INI or YAML)',
    required: true,
    exists: true,
  }),
  concurrency: Flags.integer({summary: 'Hosts worked on at once', default: 10, min: 1, max: 500}),
  'connect-timeout': Flags.integer({summary: 'Seconds to wait for a host to answer ssh', default: 10, min: 1}),
  timeout: Flags.integer({summary: 'Seconds a host may take for each step (copying the bundle, running diag)', default: 300, min: 1}),
  'ssh-config': Flags.file({summary: 'An ssh config file to use instead of ~/.ssh/config (ssh -F)', exists: true}),
  'identity-file': Flags.string({
    summary: 'The private key to log in with (ssh -i, and only it: IdentitiesOnly); checked readable before any host is asked',
  }),
  become: Flags.boolean({
    summary: 'Run diag as root on each host: through sudo -n where the login user is not root (a host where sudo would ask for a password fails with why)',
    default: false,
  }),
  bundle: Flags.file({summary: 'The bundle to copy to hosts that lack it (default: bundle/diag-<version>-linux-x64.tar.gz, from npm run bundle)'}),
}
