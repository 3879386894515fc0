// How long `diag syscount -b perf-stat -d 2` takes from start to exit, next to its peer: `perf
// stat` counting the same syscalls:sys_enter_* tracepoints over the whole system for the same 2 s
// (`-- sleep 2`) and left to exit on its own. Closing a tracepoint counter costs the kernel an RCU
// grace period, one tracepoint after another (backends/perf/perf-stat.ts): perf exits only once
// all are closed, diag kills its perf once the last counts are printed and exits while the kernel
// closes them. Also with `--syscall` (two tracepoints opened, so little to close), and how long
// the kernel was still closing diag's counters after diag exited. The runs are interleaved, and
// each starts once no perf process is left (a perf in its exit holds the kernel's event_mutex,
// which slows the opening of the next run's counters; a zombie perf has closed them all).
// Usage: node bench/perf-exit.mjs [runs]   (root; after npm run build)
import {spawnSync} from 'node:child_process'
import {readFileSync, readdirSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import {fileURLToPath} from 'node:url'

import {diagEnv, hostLine, loadAverage, median, requireReady, timeCommand} from './measure.mjs'
import {withTracefsMounted} from './tracefs.mjs'

requireReady('bench/perf-exit.mjs', {programs: ['perf']})

const runs = Number(process.argv[2] ?? 3)
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`bench/perf-exit.mjs: runs must be a whole number of at least 1, not ${process.argv[2]}`)
  process.exit(1)
}
const diag = fileURLToPath(new URL('../bin/run.js', import.meta.url))
const SECONDS = 2
// diag's perf prints a tick every 500 ms when no interval is asked for (tools/syscount/perf.ts).
const TICK_MS = 500
const QUIET_TIMEOUT_MS = 120_000

// Without NODE_EXTRA_CA_CERTS (measure.mjs, diagEnv).
const env = diagEnv

/**
 * Every perf process not yet a zombie: killed ones still in their exit (closing their counters)
 * included. A zombie has closed them all; it waits only to be reaped, by init for diag's perf
 * (this VM's init reaps a second or so late).
 */
function perfProcesses() {
  return readdirSync('/proc').filter((entry) => {
    if (!/^\d+$/.test(entry)) return false
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'perf') return false
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      return !['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))
    } catch {
      return false
    }
  })
}

/** Waits until no perf process is left but zombies; the ms it took. */
async function quiet() {
  const start = Date.now()
  while (perfProcesses().length > 0) {
    if (Date.now() - start > QUIET_TIMEOUT_MS) throw new Error(`perf processes still there after ${QUIET_TIMEOUT_MS / 1000} s: ${perfProcesses().join(' ')}`)
    await sleep(20)
  }
  return Date.now() - start
}

// The tracepoints diag counts: those tracefs lists under syscalls/ (tools/syscount/perf.ts), all or
// the ones --syscall names. perf finds them only where tracefs is usually mounted, so it is mounted
// for the listing and for perf's runs alone; diag mounts it privately where it is not mounted.
const everySyscall = await withTracefsMounted(async () =>
  readdirSync('/sys/kernel/tracing/events/syscalls').filter((name) => name.startsWith('sys_enter_')).map((name) => name.slice('sys_enter_'.length)),
)
const chosen = ['read', 'write']
const peerOf = (syscalls) => ['stat', '-x', ',', '-I', String(TICK_MS), '-e', syscalls.map((s) => `syscalls:sys_enter_${s}`).join(','), '-a', '--', 'sleep', String(SECONDS)]
const cases = {
  [`every syscall (${everySyscall.length} tracepoints)`]: {
    diag: ['syscount', '--backend', 'perf-stat', '-d', String(SECONDS)],
    perf: peerOf(everySyscall),
  },
  [`--syscall ${chosen.join(' --syscall ')} (${chosen.length} tracepoints)`]: {
    diag: ['syscount', '--backend', 'perf-stat', '-d', String(SECONDS), ...chosen.flatMap((s) => ['--syscall', s])],
    perf: peerOf(chosen),
  },
}
// diag prints its table of counts; perf its per-tick counts (-x ,: one `time,count,,event` line each).
const diagCounted = (out) => /\bwrite\b.*\d/.test(out)
const perfCounted = (_out, err) => /^\s*\d+\.\d+,\d+,,syscalls:sys_enter_write/m.test(err)

console.log(`bench/perf-exit.mjs: ${hostLine()}; ${spawnSync('perf', ['--version']).stdout.toString().trim()}`)
const samples = Object.fromEntries(Object.keys(cases).map((name) => [name, {diag: [], closing: [], perf: []}]))
await quiet()
for (let i = 0; i < runs; i++) {
  for (const [name, {diag: args, perf}] of Object.entries(cases)) {
    samples[name].diag.push(timeCommand(process.execPath, [diag, ...args], {env, check: diagCounted}))
    samples[name].closing.push(await quiet())
    samples[name].perf.push(await withTracefsMounted(() => timeCommand('perf', perf, {check: perfCounted})))
    await quiet()
  }
}

console.log(`medians of ${runs} runs each, interleaved, each from a kernel with no perf left; load average at the end ${loadAverage()}`)
console.log(`| what is counted for ${SECONDS} s | \`diag syscount -b perf-stat -d ${SECONDS}\`, start to exit | kernel still closing its counters after diag exited | \`perf stat -a -- sleep ${SECONDS}\`, start to exit | ratio diag/perf |`)
console.log('| --- | --- | --- | --- | --- |')
for (const [name, {diag: d, closing, perf}] of Object.entries(samples)) {
  const s = (ms) => `${(ms / 1000).toFixed(1)} s`
  console.log(`| ${name} | ${s(median(d))} | ${s(median(closing))} | ${s(median(perf))} | ${(median(d) / median(perf)).toFixed(2)} |`)
}
