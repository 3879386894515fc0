// How big the ring buffer of the row tools (tcplife, tcpdrop, gethostlatency: bpf/diag.h
// DIAG_ROW_EVENTS_BYTES) should be: `diag tcplife --json`, system-wide on its own choice of backend,
// while loopback clients (test/workload/diag-tcp client, several in parallel) make short sessions to
// one server as fast as they can, with the ring buffer at each size, interleaved over rounds. Per
// run: the sessions the clients made (their own count), the rows diag delivered of this server's
// sessions (two a session: the client's side and the server's), and diag's `lost`. Each size is a
// build of tcplife.tp_btf.bpf.c with -DDIAG_ROW_EVENTS_BYTES=..., in a copy of diag's package
// root in a temporary folder (its bundle, its package.json, the rest linked), so that what runs is
// `diag tcplife` itself, and nothing in the worktree changes.
//
//   node bench/row-buffer.mjs [clients] [sessions per client] [rounds] [KiB,KiB,...] [nothing,bpftrace,niced]
//   (root, after npm run build; under flock /tmp/diag-host.lock)
import {spawn, spawnSync} from 'node:child_process'
import {cpSync, mkdtempSync, mkdirSync, readdirSync, rmSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {fileURLToPath} from 'node:url'

import {hostLine, median, requireReady} from './measure.mjs'

const clients = Number(process.argv[2] ?? 8)
const perClient = Number(process.argv[3] ?? 10_000)
const rounds = Number(process.argv[4] ?? 3)
const sizesKiB = (process.argv[5] ?? '256,1024,4096').split(',').map(Number)
// What else runs: nothing, a second tracer of the same events (startBpftrace), or nothing but diag
// runs niced (at the lowest priority, so that the clients take the CPU its consumer needs).
const COMPETITORS = (process.argv[6] ?? 'nothing,bpftrace,niced').split(',')
const SEND = 100
const REPLY = 100
const OBJECT = 'tcplife.tp_btf'
const root = fileURLToPath(new URL('..', import.meta.url))
const workload = path.join(root, 'test/workload/diag-tcp')

requireReady('row-buffer', {programs: ['clang', 'bpftool', ...(COMPETITORS.includes('bpftrace') ? ['bpftrace'] : [])]})

/** A package root whose bpf/OBJECT.bpf.o has a ring buffer of `kib` KiB; the other objects linked. */
function variantRoot(dir, kib) {
  const variant = path.join(dir, `${kib}k`)
  mkdirSync(path.join(variant, 'bpf'), {recursive: true})
  mkdirSync(path.join(variant, 'dist'), {recursive: true})
  // Copied, not linked: Node resolves a linked module to its real path, and diag finds its
  // package root (and so bpf/) from where its bundle is.
  cpSync(path.join(root, 'dist/bundle'), path.join(variant, 'dist/bundle'), {recursive: true})
  cpSync(path.join(root, 'bin'), path.join(variant, 'bin'), {recursive: true})
  cpSync(path.join(root, 'package.json'), path.join(variant, 'package.json'))
  for (const linked of ['node_modules', 'native']) symlinkSync(path.join(root, linked), path.join(variant, linked))
  for (const file of readdirSync(path.join(root, 'bpf'))) {
    if (file !== `${OBJECT}.bpf.o`) symlinkSync(path.join(root, 'bpf', file), path.join(variant, 'bpf', file))
  }
  // bpf/Makefile's own command for the object, with the size set and the output elsewhere.
  const make = spawnSync('make', ['-s', '-B', '-n', `${OBJECT}.bpf.o`], {cwd: path.join(root, 'bpf')}).stdout.toString().trim().split(' ')
  const output = path.join(variant, 'bpf', `${OBJECT}.bpf.o`)
  const args = [...make.slice(1, make.indexOf('-o')), `-DDIAG_ROW_EVENTS_BYTES=(${kib} * 1024)`, '-o', output]
  const built = spawnSync(make[0], args, {cwd: path.join(root, 'bpf')})
  if (built.status !== 0) throw new Error(`building ${output}: ${built.stderr}`)
  // Its size is checked where it counts, in the map the kernel made for the run (run() below).
  return variant
}

/** A child's stdout and stderr, kept whole (diag's rows) or only the tail (a client's ports). */
function collect(child, keepAll) {
  const out = {stdout: '', stderr: ''}
  child.stdout.on('data', (d) => (out.stdout = keepAll ? out.stdout + d : (out.stdout + d).slice(-256)))
  child.stderr.on('data', (d) => (out.stderr += d))
  return out
}

// 'close', not 'exit': a child's output is whole only once its pipes are closed.
const exited = (child) => (child.exitCode !== null && child.stdout?.closed !== false ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('close', (code) => resolve(code))))

/**
 * bpftrace printing a line per TCP state change beside diag (into a pipe only counted), as in the
 * lab run where tcplife's ring buffer overflowed: a second tracer of the same events, woken per
 * event by its perf buffer, takes the CPU diag's consumer would drain its buffer with.
 */
async function startBpftrace() {
  const program = 'tracepoint:sock:inet_sock_set_state { printf("%d %d %d\\n", args->sport, args->dport, args->newstate); }'
  const tracer = spawn('bpftrace', ['-e', program], {stdio: ['ignore', 'pipe', 'pipe']})
  let said = ''
  tracer.stdout.on('data', (d) => (said.length < 4096 ? (said += d) : undefined))
  tracer.stderr.on('data', (d) => (said += d))
  while (!said.includes('Attaching')) {
    if (tracer.exitCode !== null) throw new Error(`bpftrace exited: ${said}`)
    await sleep(50)
  }
  return async () => {
    tracer.kill('SIGINT')
    await exited(tracer)
  }
}

/** One run: diag tracing the whole system while the clients make their sessions to `port`. */
async function run(variant, kib, port, competitor) {
  const command = [process.execPath, path.join(variant, 'bin/run.js'), 'tcplife', '--json', '--duration', '600']
  // niced: diag at the lowest priority, as one runs a tracer not to disturb a busy host.
  if (competitor === 'niced') command.unshift('nice', '-n', '19')
  const diag = spawn(command[0], command.slice(1), {stdio: ['ignore', 'pipe', 'pipe']})
  const traced = collect(diag, true)
  let stopCompetitor = async () => {}
  try {
    while (!traced.stderr.includes('Hit Ctrl-C')) {
      if (diag.exitCode !== null) throw new Error(`diag exited ${diag.exitCode}: ${traced.stderr}`)
      await sleep(50)
    }
    // The buffer the kernel made for this run is of this variant's size (diag ran its object).
    const maps = JSON.parse(spawnSync('bpftool', ['-j', 'map', 'show']).stdout.toString())
    if (!maps.some((m) => m.type === 'ringbuf' && m.name === 'events' && m.max_entries === kib * 1024)) {
      throw new Error(`no ring buffer of ${kib} KiB loaded: ${JSON.stringify(maps.filter((m) => m.type === 'ringbuf'))}`)
    }
    if (competitor === 'bpftrace') stopCompetitor = await startBpftrace()
    const start = performance.now()
    const children = Array.from({length: clients}, () => spawn(workload, ['client', '127.0.0.1', String(port), String(perClient), String(SEND)], {stdio: ['ignore', 'pipe', 'pipe']}))
    const outputs = children.map((c) => collect(c, false))
    const codes = await Promise.all(children.map(exited))
    const seconds = (performance.now() - start) / 1000
    let sessions = 0
    for (const [i, code] of codes.entries()) {
      const made = /sessions (\d+) /.exec(outputs[i].stdout)
      if (code !== 0 || !made) throw new Error(`diag-tcp client exited ${code}: ${outputs[i].stderr}`)
      sessions += Number(made[1])
    }
    // The server closes its side last: its rows come a moment after the clients are done.
    await sleep(1000)
    diag.kill('SIGINT')
    const code = await exited(diag)
    if (code !== 0) throw new Error(`diag exited ${code}: ${traced.stderr}`)
    const lines = traced.stdout.trim().split('\n').map((l) => JSON.parse(l))
    const summary = lines.pop()
    if (summary.type !== 'summary') throw new Error(`diag's last line is no summary: ${JSON.stringify(summary)}`)
    const rows = lines.filter((r) => r.rport === port || r.lport === port).length
    return {sessions, rows, lost: summary.lost, seconds, backend: summary.backend?.candidate}
  } finally {
    await stopCompetitor()
    if (diag.exitCode === null) {
      diag.kill('SIGINT')
      await exited(diag)
    }
  }
}

const kibName = (kib) => (kib >= 1024 ? `${kib / 1024} MiB` : `${kib} KiB`)
const dir = mkdtempSync(path.join(tmpdir(), 'diag-row-buffer-'))
const server = spawn(workload, ['server', '127.0.0.1', String(REPLY)], {stdio: ['ignore', 'pipe', 'inherit']})
try {
  const roots = new Map(sizesKiB.map((kib) => [kib, variantRoot(dir, kib)]))
  const cases = COMPETITORS.flatMap((competitor) => sizesKiB.map((kib) => ({competitor, kib, runs: []})))
  let said = ''
  server.stdout.on('data', (d) => (said += d))
  while (!/port (\d+)/.test(said)) {
    if (server.exitCode !== null) throw new Error('diag-tcp server exited before listening')
    await sleep(20)
  }
  const port = Number(/port (\d+)/.exec(said)[1])
  console.log(`${hostLine()}; ${clients} diag-tcp clients in parallel, ${perClient} sessions each, ${rounds} rounds`)
  for (let round = 0; round < rounds; round++) {
    for (const c of cases) {
      const r = await run(roots.get(c.kib), c.kib, port, c.competitor)
      c.runs.push(r)
      console.log(
        `round ${round + 1}, ${kibName(c.kib)}, beside ${c.competitor} (${r.backend}): ${r.sessions} sessions in ${r.seconds.toFixed(1)} s, ` +
          `${r.rows} rows, lost ${r.lost}, unaccounted ${2 * r.sessions - r.rows - r.lost}`,
      )
    }
  }
  // Lost as a share of the records sent: two a session (the client's side and the server's).
  const lostShare = (runs) => runs.reduce((n, r) => n + r.lost, 0) / runs.reduce((n, r) => n + 2 * r.sessions, 0)
  console.log('\n| beside | ring buffer | sessions/s (median) | sessions | rows | lost | lost % | rounds with loss | lost, ratio to 256 KiB |')
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  for (const c of cases) {
    const share = lostShare(c.runs)
    const base = lostShare(cases.find((b) => b.competitor === c.competitor && b.kib === 256)?.runs ?? [])
    const sum = (key) => c.runs.reduce((total, r) => total + r[key], 0).toLocaleString('en')
    console.log(
      `| ${c.competitor} | ${kibName(c.kib)} | ${Math.round(median(c.runs.map((r) => r.sessions / r.seconds))).toLocaleString('en')} | ${sum('sessions')} | ` +
        `${sum('rows')} | ${sum('lost')} | ${(share * 100).toFixed(2)}% | ${c.runs.filter((r) => r.lost > 0).length} of ${c.runs.length} | ${base > 0 ? (share / base).toFixed(2) : '-'} |`,
    )
  }
} finally {
  server.kill('SIGKILL')
  await exited(server)
  rmSync(dir, {recursive: true, force: true})
}
