// bpftrace and perf find tracepoints only where tracefs is usually mounted; these machines do not
// mount it at boot. Mounts it for the length of a benchmark, and only if it was not there.
import {existsSync, mkdirSync} from 'node:fs'
import {spawnSync} from 'node:child_process'

export async function withTracefsMounted(run) {
  let mounted = false
  if (!existsSync('/sys/kernel/tracing/events')) {
    mkdirSync('/sys/kernel/tracing', {recursive: true})
    mounted = spawnSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing']).status === 0
  }
  try {
    return await run()
  } finally {
    if (mounted) spawnSync('umount', ['/sys/kernel/tracing'])
  }
}
