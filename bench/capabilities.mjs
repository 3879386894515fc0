// How long `diag capabilities --json` takes, next to `bpftool feature probe` (its closest peer:
// it probes BPF program, map and helper support) on the same machine in the same run.
// Usage: node bench/capabilities.mjs [runs]   (root; build first with npm run build)
import {spawnSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'

const runs = Number(process.argv[2] ?? 15)
const diag = fileURLToPath(new URL('../bin/run.js', import.meta.url))
const commands = {
  'diag capabilities --json': [process.execPath, [diag, 'capabilities', '--json']],
  'diag capabilities --json --host-root /': [process.execPath, [diag, 'capabilities', '--json', '--host-root', '/']],
  'bpftool feature probe': ['bpftool', ['feature', 'probe']],
}

function time([command, args]) {
  const start = process.hrtime.bigint()
  const result = spawnSync(command, args, {stdio: ['ignore', 'ignore', 'pipe']})
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`)
  return Number(process.hrtime.bigint() - start) / 1e6
}

const samples = Object.fromEntries(Object.keys(commands).map((name) => [name, []]))
for (let i = 0; i < runs; i++) for (const [name, command] of Object.entries(commands)) samples[name].push(time(command))

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const peer = median(samples['bpftool feature probe'])
console.log(`runs: ${runs} each, interleaved; kernel ${spawnSync('uname', ['-r']).stdout.toString().trim()}`)
for (const [name, values] of Object.entries(samples)) {
  const m = median(values)
  console.log(`${name.padEnd(42)} median ${m.toFixed(0).padStart(5)} ms  min ${Math.min(...values).toFixed(0).padStart(5)} ms  ratio to bpftool ${(m / peer).toFixed(2)}`)
}
