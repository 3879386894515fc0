// What counting syscalls costs on an old kernel: in one boot of the lab's linux-4.9 (BPF without
// JIT at boot), a getppid workload timed alone and under `diag syscount` on BPF with the JIT off
// (the interpreter), on BPF with the JIT on, and on the hist trigger, interleaved, as slowdowns.
// The lab has no perf, so perf stat is not in it.
//
// Usage: npx vite-node bench/lab-syscount.ts [calls] [rounds]   (after npm run build; no root needed)
import {LAB_KERNELS, bootLab, labUnavailable} from '../test/lab/lab.js'

const calls = Number(process.argv[2] ?? 100_000)
const rounds = Number(process.argv[3] ?? 3)
const kernel = LAB_KERNELS['linux-4.9']
if (!kernel) throw new Error('no linux-4.9 in the lab (DIAG_LAB_KERNELS leaves it out?)')
const missing = labUnavailable(kernel)
if (missing) throw new Error(`the lab cannot run: ${missing}`)

// Seconds the workload takes, from /proc/uptime (10 ms steps; the workload runs for seconds).
const TIMED = `a=$(cut -d' ' -f1 /proc/uptime); diag-workload getppid ${calls}; b=$(cut -d' ' -f1 /proc/uptime); echo "$a $b" | awk '{printf "%.2f\\n", $2 - $1}'`

/** The workload under diag on one backend: started, attached (its ready line), timed, stopped. */
function under(backend: string, jit: 0 | 1): string {
  return [
    `echo ${jit} > /proc/sys/net/core/bpf_jit_enable`,
    `diag syscount --backend ${backend} > /tmp/tracer 2>&1 & t=$!`,
    'for i in $(seq 240); do grep -q "Hit Ctrl-C" /tmp/tracer && break; sleep 0.5; done',
    TIMED,
    'kill -INT $t; wait $t',
    'grep -q getppid /tmp/tracer || { echo "no getppid counted" >&2; cat /tmp/tracer >&2; exit 1; }',
  ].join('; ')
}

const SETUPS: Record<string, string> = {
  'no tracing': TIMED,
  'bpf-tracepoint, JIT off (the interpreter)': under('bpf-tracepoint', 0),
  'bpf-tracepoint, JIT on': under('bpf-tracepoint', 1),
  'ftrace-hist (hist trigger)': under('ftrace-hist', 0),
}

const cases = Array.from({length: rounds}, (_, round) =>
  Object.entries(SETUPS).map(([name, command], i) => ({id: `${round}-${i}`, command, name})),
).flat()
const boot = await bootLab(kernel, cases, {timeoutMs: 1_800_000})
const seconds = new Map<string, number[]>()
for (const c of cases) {
  const result = boot.results.get(c.id)!
  if (result.exitCode !== 0) throw new Error(`${c.name} failed (exit ${result.exitCode}): ${result.stderr}`)
  seconds.set(c.name, [...(seconds.get(c.name) ?? []), Number(result.stdout.trim().split('\n').pop())])
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const base = median(seconds.get('no tracing')!)
console.log(`linux-4.9 (${boot.release}) under qemu: ${calls} getppid calls, ${rounds} interleaved rounds, medians`)
for (const [name, values] of seconds) console.log(`${name.padEnd(44)} ${median(values).toFixed(2).padStart(7)} s  slowdown ${(median(values) / base).toFixed(2)}x`)
