// diag's BPF event consumer on a known number of events, for test/host/event-buffer.test.ts and
// bench/events.mjs: bpf/getppid-events.bpf.o (test/bpf/) emits one record per getppid() of the
// workload, which makes N of them at RATE per second (0: as fast as it can), and this process
// reads them through backends/bpf/event-buffer.ts, sleeping SLOW_MS after each batch when asked
// (a consumer that cannot keep up). Prints one JSON line: what arrived, what was lost, and checks
// of each record. With `print`, it prints each record as a line "TIME TID" to stdout, as bpftrace's
// printf would, and the JSON line to stderr. With `close-early`, the first batch's callback closes
// the buffer (the addon frees it once the callback has returned). Run as root, after npm run build,
// under the host lock.
//
//   node bench/event-consumer.mjs ring|perf N RATE [SLOW_MS] [print|close-early]
import {mkdtempSync, readdirSync, readlinkSync, rmdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {execFileSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'

import {BpfTool} from '../dist/backends/bpf/bpf-tool.js'
import {EventBuffer} from '../dist/backends/bpf/event-buffer.js'
import {startGatedCommand} from '../dist/src/system/child.js'
import {NodeFiles} from '../dist/src/system/files.js'
import {UndoLog} from '../dist/src/system/undo.js'
import {fieldOffset, readEventFormat} from '../dist/src/tracefs/format.js'

const [kind, n, rate, slowMs = '0', mode] = process.argv.slice(2)
const print = mode === 'print'
const closeEarly = mode === 'close-early'
if (!['ring', 'perf'].includes(kind) || !/^\d+$/.test(n ?? '') || !/^\d+$/.test(rate ?? '')) {
  console.error('usage: node bench/event-consumer.mjs ring|perf N RATE [SLOW_MS] [print|close-early]')
  process.exit(2)
}
const GETPPID = {x64: 110, arm64: 173}[process.arch]
// DIAG_WORKLOAD: where the workload is, in the lab's guest (test/lab/).
const workload = process.env.DIAG_WORKLOAD ?? fileURLToPath(new URL('../test/workload/diag-workload', import.meta.url))

/** raw_syscalls/sys_enter's format, read through a private tracefs mount gone right after. */
async function sysEnterFormat() {
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-events-'))
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', dir])
    try {
      return await readEventFormat(new NodeFiles(), dir, 'raw_syscalls/sys_enter')
    } finally {
      execFileSync('umount', [dir])
    }
  } finally {
    rmdirSync(dir)
  }
}

/** This process's open BPF objects and perf events: none once the undo log has run. */
function kernelFds() {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`)
      return /^anon_inode:(bpf[-_]\w+|\[perf_event\]|\[eventpoll\])/.test(target) ? [`${fd} ${target}`] : []
    } catch {
      return []
    }
  })
}

const before = new Set(kernelFds())  // Node's own epoll
const undo = new UndoLog()
let result
const slow = new Int32Array(new SharedArrayBuffer(4))
let received = 0
let batches = 0
let foreign = 0
let backwards = 0
const lastTime = new Map()
try {
  const format = await sysEnterFormat()
  const command = await startGatedCommand(Number(rate) > 0 ? [workload, 'paced', n, rate] : [workload, 'getppid', n], {stdoutToStderr: true})
  undo.push('end the workload', () => command.kill())
  const bpf = BpfTool.open('getppid-events', undo, {capabilities: []}, kind)
  bpf.setU32('target_tgid', command.pid)
  bpf.setU32('getppid_nr', GETPPID)
  bpf.setU32('id_offset', fieldOffset(format, 'id', [8]))
  bpf.load(['on_sys_enter'])
  const events = EventBuffer.open(bpf, undo)
  events.onEvents((batch) => {
    batches++
    received += batch.count
    let lines = ''
    for (const record of batch) {
      const time = record.readBigUInt64LE(0)
      const tid = record.readUInt32LE(8)
      if (tid !== command.pid) foreign++
      if (time < (lastTime.get(tid) ?? 0n)) backwards++
      lastTime.set(tid, time)
      if (print) lines += `${time} ${tid}\n`
    }
    if (print) process.stdout.write(lines)
    if (closeEarly) events.close()
    if (Number(slowMs) > 0) Atomics.wait(slow, 0, 0, Number(slowMs))
  })
  bpf.attachTracepoint('on_sys_enter', format)
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  command.release()
  await command.ended
  const seconds = (performance.now() - started) / 1000
  const drained = events.drain()
  const cpu = process.cpuUsage(cpuBefore)
  command.reap()
  const status = await command.exited
  result = {
    kind: events.kind,
    emitted: Number(n),
    received,
    lost: events.lost(),
    drained,
    batches,
    foreign,
    backwards,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    workloadStatus: status,
  }
} finally {
  const failures = await undo.unwind()
  for (const f of failures) console.error(`undo failed: ${f.description}: ${f.error}`)
  if (failures.length) process.exitCode = 1
}
// libuv closes the poll handle on its next turn.
await new Promise((resolve) => setImmediate(resolve))
const report = JSON.stringify({...result, leftOpen: kernelFds().filter((fd) => !before.has(fd))})
if (print) console.error(report)
else console.log(report)
