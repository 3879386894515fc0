// How long tcp_sock's calibration takes on this kernel, and how long a run then takes to get the
// same offsets from this boot's cache (src/net/tcp-offsets.ts): calibrates with an empty cache of
// its own (a temporary directory, not /run/diag), then asks again. Prints one JSON line: each
// call's milliseconds, whether it came from the cache, and the offsets. Run as root after npm run
// build, on a kernel with BPF kprobes (the lab runs it: test/lab/kernels.test.ts, tcp-calibration).
//
//   node bench/tcp-calibration.mjs
import {mkdtempSync, rmSync} from 'node:fs'
import {release, tmpdir} from 'node:os'
import path from 'node:path'

import {calibrateTcpSock} from '../dist/src/net/tcp-offsets.js'
import {FileProbeCache} from '../dist/src/probe/cache.js'
import {probeHost} from '../dist/src/probe/probe.js'
import {NodeFiles} from '../dist/src/system/files.js'
import {UndoLog} from '../dist/src/system/undo.js'

const NEEDS = ['bpf-syscall', 'bpf-helper-probe-read', 'bpf-map-hash', 'bpf-kprobe', 'bpf-global-data']
const FIELDS = ['srtt_us', 'bytes_acked', 'bytes_received']

const dir = mkdtempSync(path.join(tmpdir(), 'diag-calibration-'))
const undo = new UndoLog()
/** One run's way to the offsets: its probe (from the cache after the first), then the timed call. */
async function offsets() {
  const probe = await probeHost({only: NEEDS, cache: new FileProbeCache(dir)}, undo)
  const start = performance.now()
  const {offsets, cached} = await calibrateTcpSock({probe, files: new NodeFiles('/'), undo, pid: process.pid}, FIELDS)
  return {ms: Math.round((performance.now() - start) * 10) / 10, cached, offsets}
}
try {
  const calibrated = await offsets()
  const fromCache = await offsets()
  console.log(JSON.stringify({release: release(), calibrated, fromCache}))
} catch (error) {
  console.log(JSON.stringify({release: release(), error: error instanceof Error ? error.message : String(error)}))
  process.exitCode = 1
} finally {
  const failures = await undo.unwind()
  for (const f of failures) console.error(`cleanup failed: ${f.description}: ${f.error}`)
  if (failures.length) process.exitCode = 1
  rmSync(dir, {recursive: true, force: true})
}
