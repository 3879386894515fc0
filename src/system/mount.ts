import {execFile} from 'node:child_process'
import {promisify} from 'node:util'

// mount(8) rather than a mount(2) binding: it is on every host, and mounting happens once a run.
// Node's execFile rather than execa: every run that mounts tracefs passes here before anything
// else needs execa, whose ~150 modules cost about 40 ms of start-up (measured by hand; no bench script).
const run = promisify(execFile)

export async function mount(fstype: string, target: string): Promise<void> {
  await run('mount', ['-t', fstype, 'nodev', target], {timeout: 5000})
}

export async function unmount(target: string): Promise<void> {
  await run('umount', [target], {timeout: 5000})
}
