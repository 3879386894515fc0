import {existsSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'

/** The static workload binary with known answers (test/workload/diag-workload.c). */
export const WORKLOAD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workload/diag-workload')
export const workloadBuilt = existsSync(WORKLOAD)

/** The dynamically linked name-lookup workload (test/workload/diag-lookups.c), for gethostlatency. */
export const LOOKUPS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workload/diag-lookups')
/** The dynamically linked off-CPU workload with frame pointers (test/workload/diag-offcpu.c). */
export const OFFCPU_WORKLOAD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workload/diag-offcpu')

/** A loop device over a sparse file: a real block device whose requests are only the test's. */
export async function withLoopDevice<T>(use: (device: string) => Promise<T>): Promise<T> {
  const image = path.join('/tmp', `diag-test-${process.pid}-${Date.now()}.img`)
  await execa('truncate', ['-s', '64M', image])
  try {
    const {stdout: device} = await execa('losetup', ['--find', '--show', image])
    try {
      return await use(device.trim())
    } finally {
      await execa('losetup', ['-d', device.trim()])
    }
  } finally {
    await execa('rm', ['-f', image])
  }
}

export const loopDevices = existsSync('/dev/loop-control')
