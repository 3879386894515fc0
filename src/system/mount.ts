import {execFile} from 'node:child_process'
import {promisify} from 'node:util'

import {type BpfAddonLoad, loadBpfAddon} from './bpf-addon.js'

// mount(2) through the addon where it loads: mount(8) and umount(8) were two processes started
// in every run on a host that does not mount tracefs (about 3 to 6 ms each, measured by hand).
// mount(8) where the addon does not load (no libbpf on the host): it is on every host. Node's
// execFile rather than execa: execa's ~150 modules cost about 40 ms of start-up.
const run = promisify(execFile)

/** The addon's mount calls, when it loads and has them (a build older than them has not). */
function addonMounts(load: () => BpfAddonLoad): {mount: (fstype: string, target: string) => void; unmount: (target: string) => void} | undefined {
  const loaded = load()
  return loaded.ok && typeof loaded.addon.mount === 'function' ? loaded.addon : undefined
}

export async function mount(fstype: string, target: string, load: () => BpfAddonLoad = loadBpfAddon): Promise<void> {
  const addon = addonMounts(load)
  if (addon) addon.mount(fstype, target)
  else await run('mount', ['-t', fstype, 'nodev', target], {timeout: 5000})
}

export async function unmount(target: string, load: () => BpfAddonLoad = loadBpfAddon): Promise<void> {
  const addon = addonMounts(load)
  if (addon) addon.unmount(target)
  else await run('umount', [target], {timeout: 5000})
}
