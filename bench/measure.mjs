// What the benchmarks share: a median, a command timed to its exit, the line that says on what and
// under what load a run was made, and the checks before one starts.
import {spawnSync} from 'node:child_process'
import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

/** Runs a command to its exit; its wall time in ms. Throws with its stderr when it fails. */
export function timeCommand(command, args, {env, check} = {}) {
  const start = process.hrtime.bigint()
  const result = spawnSync(command, args, {stdio: ['ignore', 'pipe', 'pipe'], env, maxBuffer: 64 * 1024 * 1024})
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`)
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr}`)
  if (check && !check(result.stdout.toString(), result.stderr.toString())) {
    throw new Error(`${command} ${args.join(' ')} did not print what it should:\n${result.stdout.toString().slice(-500)}${result.stderr.toString().slice(-500)}`)
  }
  return ms
}

/**
 * The environment diag is timed in: without NODE_EXTRA_CA_CERTS, which makes every Node.js process
 * parse that file of certificates as it starts though diag speaks no TLS (some development
 * machines set it for every process, hosts of a fleet do not).
 */
export const diagEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_EXTRA_CA_CERTS'))

export const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')

/** The kernel, the CPUs, Node.js and the load average, for a run's first line. */
export function hostLine() {
  const kernel = spawnSync('uname', ['-r']).stdout.toString().trim()
  const cpus = readdirSync('/sys/devices/system/cpu').filter((n) => /^cpu\d+$/.test(n)).length
  return `kernel ${kernel}, ${cpus} CPUs, node ${process.version}; load average ${loadAverage()}`
}

/** Exits 1 with a message naming what is missing: root, diag's build, a program on PATH. */
export function requireReady(name, {root = true, programs = []} = {}) {
  const problems = []
  if (root && process.getuid?.() !== 0) problems.push('needs root (it runs diag against the kernel)')
  const built = ['dist/bundle/cli.js', 'native/build/Release/diag_bpf.node', 'native/build/Release/diag-gate']
  const missing = built.filter((file) => !existsSync(fileURLToPath(new URL(`../${file}`, import.meta.url))))
  if (missing.length > 0) problems.push(`diag is not built (${missing.join(', ')} missing): run npm run build first`)
  for (const program of programs) {
    if (spawnSync('sh', ['-c', `command -v ${program}`]).status !== 0) problems.push(`${program} is not on PATH`)
  }
  if (problems.length === 0) return
  console.error(`${name}: ${problems.join('; ')}`)
  process.exit(1)
}
