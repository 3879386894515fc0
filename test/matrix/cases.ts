import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {TOOLS} from '../../tools/index.js'
import type {Counts, Histograms, Profile, Row, ToolResult} from '../../src/result/model.js'
import type {Stacks} from '../../src/result/kinds/stacks.js'
import type {Table} from '../../src/result/kinds/table.js'
import {schemaErrors} from '../helpers/schema.js'

/**
 * The coverage matrix: every tool on every backend diag has, each with a workload whose answer is
 * known, run the same way on the host and on each lab kernel. The same table drives the tests and
 * the README's coverage table (scripts/matrix.mjs).
 */
export interface MatrixEnv {
  name: string
  /** The workload binary, as the environment sees it. */
  workload: string
  /** The off-CPU workload (test/workload/diag-offcpu.c: sleep_in_nanosleep, 100 times 10 ms), dynamically linked. */
  offcpuWorkload: string
  /** A file to read(2) repeatedly. */
  readFile: string
  /** A block device whose only requests are the test's, and its name in --disks output. */
  disk: string
  diskLabel: string
  /** A glob that matches only this kernel's function behind getppid(2) (getppidPattern). */
  getppidPattern: string
  /** test/workload/diag-lookups, dynamically linked (gethostlatency traces the libc it loads). */
  lookups: string
  /** test/workload/diag-tcp, the loopback TCP workload (static). */
  tcpWorkload: string
}

/**
 * The function behind getppid(2), by the names kernels have given it: __do_sys_getppid since the
 * 4.17 syscall wrappers (its __x64_sys_getppid is an alias, not traceable apart), sys_getppid before.
 */
export const GETPPID_FUNCTIONS = ['__do_sys_getppid', 'sys_getppid']

/** The first of GETPPID_FUNCTIONS this kernel has, as a glob a user would type: `sys_getpp*`. */
export function getppidPattern(kernelSymbols: Set<string>): string {
  const name = GETPPID_FUNCTIONS.find((fn) => kernelSymbols.has(fn)) ?? GETPPID_FUNCTIONS[0]
  return `${name.slice(0, -2)}*`
}

export interface MatrixCase {
  tool: string
  /** A candidate id, or "default" to let diag route. */
  candidate: string
  args(env: MatrixEnv): string[]
  /** Why the result is wrong, or undefined when it is right; a rows tool's rows came before it (NDJSON). */
  check(result: ToolResult, env: MatrixEnv, rows: Row[]): string | undefined
}

const N = {syscalls: 2000, writes: 200, wakeups: 500, reads: 2000, lookups: [3, 2, 1]}
// diag-offcpu's sleeps: 100 of 10 ms, about 1 s blocked in nanosleep, give or take 15%.
const OFFCPU = {seconds: 1, tolerance: 0.15}
// funccount: a few calls of the function by the loader may come on top of the workload's own.
const HANDFUL = 5
// Backends that cannot filter by process count everyone's calls of the function while the
// workload runs; on an idle machine that is a little more.
const SYSTEM_WIDE_SLACK = 300

// tcptop: a diag-tcp client's sessions to a server on loopback, each sending SEND bytes and
// receiving REPLY; both run under the traced shell, so the server's row (the mirror) is there too.
const TCP = {sessions: 20, send: 300_000, reply: 100_000, tolerance: 0.05}
// The candidates that read the connection's addresses (through BTF); the others leave them null.
const TCPTOP_ADDRESSED = new Set(['bpf-tp-btf', 'bpf-fentry', 'bpf-kprobe-btf'])

/** A shell line that runs a diag-tcp server on 127.0.0.1, then the client against its port, then stops the server. */
export function tcpSessions(workload: string, sessions: number, send: number, reply: number): string {
  const w = `'${workload}'`
  return [
    `f=/tmp/diag-tcp-port.$$; ${w} server 127.0.0.1 ${reply} > $f & s=$!`,
    'i=0; until grep -q port $f 2>/dev/null || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done',
    `read _ p < $f; ${w} client 127.0.0.1 $p ${sessions} ${send} > /dev/null; rc=$?`,
    'kill $s; rm -f $f; exit $rc',
  ].join('; ')
}

/**
 * tcptop's known answer: a process (the client) that sent sessions*send bytes and received
 * sessions*reply, within 5%, over all its rows; with addresses (127.0.0.1:port, one remote port)
 * where the candidate reads them, null where it cannot.
 */
export function tcptopWrong(r: ToolResult): string | undefined {
  const rows = r.intervals.flatMap((i) => (i.data as Table).rows)
  const byPid = new Map<number, {rx: number; tx: number; rows: Row[]}>()
  for (const row of rows) {
    const pid = row.pid as number
    const sums = byPid.get(pid) ?? {rx: 0, tx: 0, rows: []}
    sums.rx += Number(row.rxKb) * 1024
    sums.tx += Number(row.txKb) * 1024
    sums.rows.push(row)
    byPid.set(pid, sums)
  }
  const near = (value: number, expected: number) => Math.abs(value - expected) <= expected * TCP.tolerance
  const [tx, rx] = [TCP.sessions * TCP.send, TCP.sessions * TCP.reply]
  const client = [...byPid.values()].find((p) => near(p.tx, tx) && near(p.rx, rx))
  if (!client) return `no process sent ${tx} and received ${rx} bytes (within 5%): ${JSON.stringify([...byPid].map(([pid, p]) => ({pid, tx: p.tx, rx: p.rx})))}`
  if (client.rows.some((row) => row.comm !== 'diag-tcp')) return `the client's rows are not all diag-tcp's: ${JSON.stringify(client.rows[0])}`
  if (TCPTOP_ADDRESSED.has(r.backend.candidate)) {
    const remote = new Set(client.rows.map((row) => String(row.raddr).replace(/^127\.0\.0\.1:/, '')))
    const bad = client.rows.find((row) => !/^127\.0\.0\.1:\d+$/.test(String(row.laddr)) || !/^127\.0\.0\.1:\d+$/.test(String(row.raddr)))
    if (bad || remote.size !== 1) return `addresses not 127.0.0.1:port with one server port: ${JSON.stringify(bad ?? [...remote])}`
    if (client.rows.length !== TCP.sessions) return `${client.rows.length} connections of the client, expected ${TCP.sessions}`
  } else if (client.rows.some((row) => row.laddr !== null || row.raddr !== null)) return `${r.backend.candidate} cannot know addresses, yet a row has some: ${JSON.stringify(client.rows[0])}`
  return undefined
}

const total = (r: ToolResult) => r.intervals.flatMap((i) => (i.data as Counts).rows ?? []).reduce((s, row) => s + row.count, 0)

const countOf = (r: ToolResult, key: string) =>
  r.intervals.flatMap((i) => (i.data as Counts).rows ?? []).filter((row) => row.key === key).reduce((s, row) => s + row.count, 0)

const histogramTotal = (r: ToolResult, label: string | null) =>
  r.intervals
    .flatMap((i) => (i.data as Histograms).histograms ?? [])
    .filter((h) => h.label === label)
    .reduce((s, h) => s + h.count, 0)

function within(what: string, value: number, low: number, high: number): string | undefined {
  return value >= low && value <= high ? undefined : `${what} was ${value}, expected ${low}..${high}`
}

/**
 * offcputime's known answer: the workload's sleeps under one stack, which holds the kernel's
 * schedule path and, where the backend records user stacks (BPF), the workload's own function and
 * main; their time sums to about 1 s.
 */
export function offcpuWrong(r: ToolResult): string | undefined {
  const stacks = r.intervals.flatMap((i) => (i.data as Stacks).stacks)
  const sleeping = stacks.filter((s) => s.frames[0] === 'diag-offcpu' && s.frames.some((f) => /nanosleep/.test(f)))
  if (sleeping.length === 0) return `no diag-offcpu stack through nanosleep: ${JSON.stringify(stacks.slice(0, 3))}`
  const user = r.backend.name === 'bpf'
  const whole = sleeping.find((s) => s.frames.includes('schedule') && (!user || (s.frames.includes('sleep_in_nanosleep') && s.frames.includes('main'))))
  if (!whole) return `no stack with schedule${user ? ', sleep_in_nanosleep and main' : ''}: ${sleeping.map((s) => s.frames.join(';')).join(' | ')}`
  const seconds = sleeping.reduce((sum, s) => sum + s.value, 0) / 1e6
  const {seconds: expected, tolerance} = OFFCPU
  return within('seconds blocked in nanosleep', Number(seconds.toFixed(3)), expected * (1 - tolerance), expected * (1 + tolerance))
}

const SYSTEM_WIDE = new Set(['funccount/ftrace-profiler', 'funccount/ftrace-kprobe-profile'])

function casesFor(tool: string, candidate: string): MatrixCase {
  const force = candidate === 'default' ? [] : ['--backend', candidate]
  switch (tool) {
    case 'syscount':
      return {
        tool,
        candidate,
        // The command's own syscalls exactly, from its execve: the gate adds none of its own.
        args: (env) => ['syscount', ...force, '--json', '--', env.workload, 'calls', String(N.syscalls)],
        check: (r) => {
          const expected = {execve: 1, getppid: N.syscalls, getpid: 2 * N.syscalls, getuid: 3 * N.syscalls, getgid: 4 * N.syscalls}
          const wrong = Object.entries(expected).filter(([name, n]) => countOf(r, name) !== n)
          return wrong.length ? wrong.map(([name, n]) => `${name} count was ${countOf(r, name)}, expected ${n}`).join('; ') : undefined
        },
      }
    case 'biolatency':
      return {
        tool,
        candidate,
        args: (env) => ['biolatency', '--disks', ...force, '--json', '--', env.workload, 'dwrite', env.disk, String(N.writes)],
        check: (r, env) => within(`requests on ${env.diskLabel}`, histogramTotal(r, env.diskLabel), N.writes, N.writes),
      }
    case 'runqlat':
      return {
        tool,
        candidate,
        args: (env) => ['runqlat', ...force, '--json', '--', env.workload, 'wakeups', String(N.wakeups)],
        // Each round trip wakes both sides; every wakeup that is waited for is counted.
        check: (r) => within('run queue latencies', histogramTotal(r, null), N.wakeups, Infinity),
      }
    case 'funccount': {
      const slack = SYSTEM_WIDE.has(`funccount/${candidate}`) ? SYSTEM_WIDE_SLACK : HANDFUL
      return {
        tool,
        candidate,
        // The pattern matches one function: every count is a getppid call.
        args: (env) => ['funccount', env.getppidPattern, ...force, '--json', '--', env.workload, 'getppid', String(N.syscalls)],
        check: (r, env) => within(`${env.getppidPattern} calls`, total(r), N.syscalls, N.syscalls + (candidate === 'default' ? SYSTEM_WIDE_SLACK : slack)),
      }
    }
    case 'funcprofile':
      return {
        tool,
        candidate,
        args: (env) => ['funcprofile', 'vfs_rea*', ...force, '--json', '--', env.workload, 'read', env.readFile, String(N.reads)],
        check: (r) => {
          const row = r.intervals.flatMap((i) => (i.data as Profile).rows).find((x) => x.function === 'vfs_read')
          if (!row) return 'no vfs_read row'
          if (!(row.totalUs > 0 && row.avgUs > 0)) return `vfs_read has no time: ${JSON.stringify(row)}`
          return within('vfs_read hits', row.hits, N.reads, N.reads + SYSTEM_WIDE_SLACK)
        },
      }
    case 'gethostlatency':
      return {
        tool,
        candidate,
        // getaddrinfo, gethostbyname and gethostbyname2 calls: a row each, whether the name resolves or not.
        args: (env) => ['gethostlatency', ...force, '--json', '--', env.lookups, ...N.lookups.map(String)],
        check: (r, _env, rows) => {
          const expected = N.lookups.reduce((a, b) => a + b, 0)
          const counted = (r as ToolResult & {rowCount?: number}).rowCount
          if (rows.length !== expected || counted !== expected) return `${rows.length} rows (the summary counted ${counted}), expected ${expected}`
          const pids = new Set(rows.map((row) => row.pid))
          const wrong = rows.find((row) => row.comm !== 'diag-lookups' || row.host !== 'localhost' || !(Number(row.latMs) >= 0))
          if (pids.size !== 1 || wrong) return `rows not all of one diag-lookups process asking for localhost: ${JSON.stringify(wrong ?? [...pids])}`
          return undefined
        },
      }
    case 'funclatency':
      return {
        tool,
        candidate,
        // One function, timed in every backend for the traced command only: a histogram of it
        // holds each getppid call (and the loader's few).
        args: (env) => ['funclatency', env.getppidPattern, ...force, '--json', '--', env.workload, 'getppid', String(N.syscalls)],
        check: (r, env) => {
          const histograms = r.intervals.flatMap((i) => (i.data as Histograms).histograms ?? [])
          const data = r.intervals[0]?.data as Histograms | undefined
          if (data && (data.unit !== 'nsecs' || data.labelKey !== 'function')) return `unit ${data.unit}, labelKey ${data.labelKey}: expected nsecs, function`
          const pattern = new RegExp(`^${env.getppidPattern.replace(/\*/g, '.*')}$`)
          const stray = histograms.find((h) => !h.label || !pattern.test(h.label))
          if (stray) return `a histogram labelled ${JSON.stringify(stray.label)}, not a function matching ${env.getppidPattern}`
          return within(`${env.getppidPattern} calls timed`, histograms.reduce((s, h) => s + h.count, 0), N.syscalls, N.syscalls + HANDFUL)
        },
      }
    case 'offcputime':
      return {
        tool,
        candidate,
        args: (env) => ['offcputime', ...force, '--json', '--', env.offcpuWorkload],
        check: (r) => offcpuWrong(r),
      }
    case 'tcptop':
      return {
        tool,
        candidate,
        args: (env) => ['tcptop', ...force, '--json', '--top', '100', '--', 'sh', '-c', tcpSessions(env.tcpWorkload, TCP.sessions, TCP.send, TCP.reply)],
        check: (r) => tcptopWrong(r),
      }
    default:
      throw new Error(`no matrix case for ${tool}`)
  }
}

/** Every candidate of every tool, and each tool left to route itself. */
export const MATRIX: MatrixCase[] = TOOLS.flatMap((tool) => [casesFor(tool.name, 'default'), ...tool.candidates.map((c) => casesFor(tool.name, c.id))])

export type Outcome = 'right' | 'wrong' | 'not supported' | 'failed'

export interface MatrixRow {
  env: string
  tool: string
  candidate: string
  /** Which candidate ran (for "default", the one diag chose). */
  ran: string | null
  outcome: Outcome
  detail: string
}

/** Judges one run: its exit code, its JSON (against the committed schema), and the known answer. */
export function judge(c: MatrixCase, env: MatrixEnv, exitCode: number, stdout: string): MatrixRow {
  const row = {env: env.name, tool: c.tool, candidate: c.candidate}
  let json: ToolResult | {error: {message: string}}
  let rows: Row[] = []
  let summaryRowCount: number | undefined
  try {
    json = JSON.parse(stdout)
  } catch {
    // A rows tool prints NDJSON: a line per row, then the summary (or an error) last.
    const lines = ndjsonLines(stdout)
    if (!lines) return {...row, ran: null, outcome: 'failed', detail: `exit ${exitCode}, no JSON: ${stdout.slice(0, 300)}`}
    const last = lines.pop()!
    const invalidLine = [...lines, last].map((l) => schemaErrors('resultStream', l)).find(Boolean)
    if (invalidLine && !('error' in last)) return {...row, ran: null, outcome: 'wrong', detail: `not the result-stream schema: ${invalidLine}`}
    // The summary is the result without its rows, and their count: judged as a result, with the rows before it.
    const {type: _, rowCount, ...result} = last
    json = result as unknown as ToolResult | {error: {message: string}}
    rows = lines.map(({type: __, ...r}) => r as Row)
    summaryRowCount = typeof rowCount === 'number' ? rowCount : undefined
  }
  if ('error' in json) return {...row, ran: null, outcome: exitCode === 3 ? 'not supported' : 'failed', detail: json.error.message.split('\n')[0]}
  const invalid = schemaErrors('result', json)
  if (invalid) return {...row, ran: json.backend?.candidate ?? null, outcome: 'wrong', detail: `not the result schema: ${invalid}`}
  const wrong = c.check(summaryRowCount === undefined ? json : Object.assign(json, {rowCount: summaryRowCount}), env, rows)
  return {...row, ran: json.backend.candidate, outcome: wrong ? 'wrong' : 'right', detail: wrong ?? ''}
}

/** The objects of NDJSON text, one a line; undefined when a line is not one. */
function ndjsonLines(stdout: string): ({type?: string} & Record<string, unknown>)[] | undefined {
  try {
    return stdout.trim().split('\n').map((line) => JSON.parse(line) as {type?: string} & Record<string, unknown>)
  } catch {
    return undefined
  }
}

/** Where scripts/matrix.mjs collects rows from the suites, when it runs them. */
export function recordRows(rows: MatrixRow[], env: string): void {
  const dir = process.env.DIAG_MATRIX_DIR
  if (!dir) return
  mkdirSync(dir, {recursive: true})
  writeFileSync(path.join(dir, `${env}.json`), JSON.stringify(rows, null, 2))
}
