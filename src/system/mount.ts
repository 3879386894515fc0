import {execa} from 'execa'

// mount(8) rather than a mount(2) binding: it is on every host, and mounting happens once a run.
export async function mount(fstype: string, target: string): Promise<void> {
  await execa('mount', ['-t', fstype, 'nodev', target], {timeout: 5000})
}

export async function unmount(target: string): Promise<void> {
  await execa('umount', [target], {timeout: 5000})
}
