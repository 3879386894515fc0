import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {TOOLS} from '../../tools/index.js'
import type {Counts, Histograms, Profile, Row, ToolResult} from '../../src/result/model.js'
import type {Stack, Stacks} from '../../src/result/kinds/stacks.js'
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
  /**
   * The off-CPU workload (test/workload/diag-offcpu.c: sleep_in_nanosleep, 100 times 10 ms; with
   * `wake`, wait_for_waker woken by wake_sleeper 100 times after 10 ms), dynamically linked.
   */
  offcpuWorkload: string
  /**
   * A command the off-CPU workload runs under on offcputime's and offwaketime's perf-record backend, to keep it on one CPU
   * (`taskset -c 0`), where the environment's kernel cannot show perf the sleeps on every CPU.
   */
  offcpuPin?: string[]
  /** The on-CPU workload (test/workload/diag-spin.c: burn_cpu for MS milliseconds), dynamically linked. */
  spinWorkload: string
  /** A file to read(2) repeatedly. */
  readFile: string
  /** A block device whose only requests are the test's, and its name in --disks output. */
  disk: string
  diskLabel: string
  /** A glob that matches only this kernel's function behind getppid(2) (getppidPattern). */
  getppidPattern: string
  /** test/workload/diag-lookups, dynamically linked (gethostlatency traces the libc it loads). */
  lookups: string
  /** test/workload/diag-tcp, static. */
  tcpWorkload: string
  /** The port of a diag-tcp server on 127.0.0.1 replying TCP.reply bytes, run apart from diag. */
  tcpPort: string
  /** A loopback TCP port nothing listens on (tcpdrop: each SYN sent there is dropped, NO_SOCKET). */
  closedPort: number
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
  /** Candidates the case's flags rule out (their `accepts` refuses them), so routing passes them over. */
  passesOver?: string[]
}

const N = {syscalls: 2000, writes: 200, wakeups: 500, reads: 2000, lookups: [3, 2, 1], refused: 3, tcpSessions: 20}
/** tcplife's sessions: the client's, one after another, each sending `send` bytes and receiving the server's `reply`. */
export const TCP = {sessions: 3, send: 100_000, reply: 50_000}
// tcplife's candidates that read the bytes from the socket through BTF; the no-BTF BPF ones read
// them at offsets calibrated against TCP_INFO (src/net/tcp-offsets.ts), where the kernel has BPF
// kprobes to calibrate with (every lab kernel with BPF; not this host); the others cannot (null).
const TCP_BYTES_KNOWN = new Set(['bpf-tp-btf'])
const TCP_BYTES_CALIBRATED = new Set(['bpf-tracepoint', 'bpf-kprobe'])
export const CALIBRATED = 'calibrated against TCP_INFO'
// diag-offcpu's sleeps: 100 of 10 ms, about 1 s blocked in nanosleep, give or take 15%.
const OFFCPU = {seconds: 1, tolerance: 0.15}
/**
 * The range a known answer of about OFFCPU.seconds may fall in. Sleeps only grow, so below is
 * always the same. Above, none of the workload's blocks can outlast the traced run itself (from the
 * command's release to its exit, the result's seconds), so a block counted twice (about 2 s) is
 * wrong everywhere. On this host the answer is also within 15% of 1 s; in the lab it is not bound
 * further, since an emulated guest's timers fire late by however busy its host is (1.3 to 1.9 s was
 * seen under a loaded CI run, with the run itself longer still).
 */
function offcpuRange(r: ToolResult, env?: MatrixEnv): [number, number] {
  const {seconds, tolerance} = OFFCPU
  const run = Number(r.seconds.toFixed(3))
  const emulated = env !== undefined && env.name !== 'host'
  return [seconds * (1 - tolerance), emulated ? run : Math.min(seconds * (1 + tolerance), run)]
}
// funccount: a few calls of the function by the loader may come on top of the workload's own.
const HANDFUL = 5
// Backends that cannot filter by process count everyone's calls of the function while the
// workload runs; on an idle machine that is a little more.
const SYSTEM_WIDE_SLACK = 300

// tcptop: a diag-tcp client's sessions to a server on loopback, each sending SEND bytes and
// receiving REPLY; both run under the traced shell, so the server's row (the mirror) is there too.
const TCPTOP = {sessions: 20, send: 300_000, reply: 100_000, tolerance: 0.05}
// The candidates that read the connection's addresses (through BTF); the others leave them null.
const TCPTOP_ADDRESSED = new Set(['bpf-tp-btf', 'bpf-fentry', 'bpf-kprobe-btf'])

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
  const near = (value: number, expected: number) => Math.abs(value - expected) <= expected * TCPTOP.tolerance
  const [tx, rx] = [TCPTOP.sessions * TCPTOP.send, TCPTOP.sessions * TCPTOP.reply]
  const client = [...byPid.values()].find((p) => near(p.tx, tx) && near(p.rx, rx))
  if (!client) return `no process sent ${tx} and received ${rx} bytes (within 5%): ${JSON.stringify([...byPid].map(([pid, p]) => ({pid, tx: p.tx, rx: p.rx})))}`
  if (client.rows.some((row) => row.comm !== 'diag-tcp')) return `the client's rows are not all diag-tcp's: ${JSON.stringify(client.rows[0])}`
  if (TCPTOP_ADDRESSED.has(r.backend.candidate)) {
    const remote = new Set(client.rows.map((row) => String(row.raddr).replace(/^127\.0\.0\.1:/, '')))
    const bad = client.rows.find((row) => !/^127\.0\.0\.1:\d+$/.test(String(row.laddr)) || !/^127\.0\.0\.1:\d+$/.test(String(row.raddr)))
    if (bad || remote.size !== 1) return `addresses not 127.0.0.1:port with one server port: ${JSON.stringify(bad ?? [...remote])}`
    if (client.rows.length !== TCPTOP.sessions) return `${client.rows.length} connections of the client, expected ${TCPTOP.sessions}`
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
 * schedule path and, where the backend records user stacks (BPF, perf), the workload's own function and
 * main; their time sums to about 1 s.
 */
export function offcpuWrong(r: ToolResult, env?: MatrixEnv): string | undefined {
  const stacks = r.intervals.flatMap((i) => (i.data as Stacks).stacks)
  const sleeping = stacks.filter((s) => s.frames[0] === 'diag-offcpu' && s.frames.some((f) => /nanosleep/.test(f)))
  if (sleeping.length === 0) return `no diag-offcpu stack through nanosleep: ${JSON.stringify(stacks.slice(0, 3))}`
  // The ftrace stream records kernel stacks only.
  const user = r.backend.name !== 'ftrace'
  const whole = sleeping.find((s) => s.frames.includes('schedule') && (!user || (s.frames.includes('sleep_in_nanosleep') && s.frames.includes('main'))))
  if (!whole) return `no stack with schedule${user ? ', sleep_in_nanosleep and main' : ''}: ${sleeping.map((s) => s.frames.join(';')).join(' | ')}`
  const seconds = sleeping.reduce((sum, s) => sum + s.value, 0) / 1e6
  return within('seconds blocked in nanosleep', Number(seconds.toFixed(3)), ...offcpuRange(r, env))
}

/**
 * offwaketime's known answer (diag-offcpu wake: 100 reads of a pipe, each woken by a byte the
 * other thread writes after 10 ms): stacks with the pipe read on the blocked side and the pipe
 * write on the waker's, diag-offcpu at both ends, their time about 1 s. Where the backend records
 * user stacks (BPF, perf) the sides are told by wait_for_waker and wake_sleeper, and the kernel's
 * schedule and wakeup frames are there too; the ftrace stream records kernel stacks only, told by
 * pipe_read and pipe_write (anon_pipe_read and anon_pipe_write since 6.15).
 */
export function offwakeWrong(r: ToolResult, env?: MatrixEnv): string | undefined {
  const stacks = r.intervals.flatMap((i) => (i.data as Stacks).stacks)
  const wakee = (s: Stack) => s.frames.slice(0, s.wakerFrom)
  const waker = (s: Stack) => s.frames.slice((s.wakerFrom ?? s.frames.length) + 1)
  const user = r.backend.name !== 'ftrace'
  const blockedIn = user ? (f: string) => f === 'wait_for_waker' : (f: string) => /pipe_read$/.test(f)
  const wokenFrom = user ? (f: string) => f === 'wake_sleeper' : (f: string) => /pipe_write$/.test(f)
  const [blockedName, wakerName] = user ? ['wait_for_waker', 'wake_sleeper'] : ['pipe_read', 'pipe_write']
  const waiting = stacks.filter((s) => s.frames[0] === 'diag-offcpu' && wakee(s).some(blockedIn))
  if (waiting.length === 0) return `no diag-offcpu stack through ${blockedName}: ${JSON.stringify(stacks.slice(0, 3))}`
  const woken = waiting.filter((s) => waker(s).some(wokenFrom) && waker(s).at(-1) === 'diag-offcpu')
  if (woken.length === 0) return `no ${blockedName} stack woken from ${wakerName} by diag-offcpu: ${waiting.map((s) => s.frames.join(';')).join(' | ')}`
  if (!woken.some((s) => wakee(s).includes('schedule') && waker(s).some((f) => /^(try_to_wake_up|__wake_up)/.test(f)))) {
    return `no stack with schedule on the blocked side and the wakeup on the waker's: ${woken.map((s) => s.frames.join(';')).join(' | ')}`
  }
  const seconds = woken.reduce((sum, s) => sum + s.value, 0) / 1e6
  return within(`seconds blocked in ${blockedName}, woken from ${wakerName}`, Number(seconds.toFixed(3)), ...offcpuRange(r, env))
}

/** Whether a kernel release gives kfree_skb's drop reason (5.17+). */
export function hasDropReasons(release: string | null): boolean {
  const [major, minor] = (release ?? '').split('.').map(Number)
  return major > 5 || (major === 5 && minor >= 17)
}

/**
 * tcpdrop's known answer: a row for each SYN sent to the closed port, dropped in tcp_v4_rcv (its
 * stack passes through it), NO_SOCKET where the kernel gives reasons; its addresses, where the
 * backend reads them, the loopback ones.
 */
export function tcpdropWrong(r: ToolResult, env: MatrixEnv, rows: Row[]): string | undefined {
  const refused = rows.filter((row) => Array.isArray(row.stack) && row.stack.some((f) => /^tcp_v4_rcv\b/.test(f)))
  const reasons = hasDropReasons(r.kernel)
  const wrong = refused.find(
    (row) =>
      row.ip !== 4 ||
      (reasons ? row.reason !== 'NO_SOCKET' : row.reason !== null) ||
      (row.dport !== null && (row.dport !== env.closedPort || row.daddr !== '127.0.0.1' || row.flags !== 'SYN')),
  )
  if (wrong) return `a drop in tcp_v4_rcv that is not a SYN to 127.0.0.1:${env.closedPort}${reasons ? ' for NO_SOCKET' : ' without a reason'}: ${JSON.stringify(wrong)}`
  return within('drops in tcp_v4_rcv', refused.length, N.refused, N.refused + HANDFUL)
}

// diag-spin's run: 2 s in burn_cpu; at least this share of its samples must name it, and with
// fewer samples than the floor (49 Hz for 2 s is about 98 on a CPU of its own) the share means little.
const SPIN = {ms: 2000, share: 0.8, minSamples: 20}

/**
 * profile's known answer: of the samples of the spinning workload, at least 80% are in its hot
 * function, named from its symbol table (burn_cpu in the user stack).
 */
export function spinWrong(r: ToolResult): string | undefined {
  const stacks = r.intervals.flatMap((i) => (i.data as Stacks).stacks)
  const data = r.intervals[0]?.data as Stacks | undefined
  if (data && data.unit !== 'samples') return `unit ${data.unit}, expected samples`
  const own = stacks.filter((s) => s.frames[0] === 'diag-spin')
  const samples = own.reduce((sum, s) => sum + s.value, 0)
  if (samples < SPIN.minSamples) return `${samples} samples of diag-spin, expected at least ${SPIN.minSamples}: ${JSON.stringify(stacks.slice(0, 3))}`
  const hot = own.filter((s) => s.frames.includes('burn_cpu')).reduce((sum, s) => sum + s.value, 0)
  if (hot / samples >= SPIN.share) return undefined
  const top = [...own].sort((a, b) => b.value - a.value).slice(0, 3)
  return `${hot} of ${samples} diag-spin samples in burn_cpu, expected at least ${SPIN.share * 100}%: ${top.map((s) => `${s.frames.join(';')} ${s.value}`).join(' | ')}`
}

/**
 * tcplife's known answer: exactly the client's sessions, one process's, each from its own local
 * port to the server's, closed during the run and begun MS before, with the bytes sent and
 * received within 1 KiB where the backend knows them and null where it cannot (and each row
 * naming that backend).
 */
export function tcplifeWrong(r: ToolResult, rows: Row[], port: number, lab: boolean): string | undefined {
  if (rows.length !== TCP.sessions) return `${rows.length} rows, expected ${TCP.sessions}: ${JSON.stringify(rows)}`
  const candidate = r.backend.candidate
  const calibrated = TCP_BYTES_CALIBRATED.has(candidate) && r.backend.attach.includes(CALIBRATED)
  if (TCP_BYTES_CALIBRATED.has(candidate) && lab && !calibrated) return `${candidate} did not calibrate the byte offsets on a kernel with BPF kprobes: ${r.backend.attach}`
  const kb = (bytes: number) => bytes / 1024
  for (const row of rows) {
    if (row.backend !== candidate) return `a row names backend ${row.backend}, the run was ${candidate}`
    if (row.comm !== 'diag-tcp' || row.laddr !== '127.0.0.1' || row.raddr !== '127.0.0.1' || row.rport !== port) return `not a diag-tcp session to 127.0.0.1:${port}: ${JSON.stringify(row)}`
    if (!(Number(row.lport) > 0) || !(Number(row.ms) >= 0) || row.ms === null) return `no local port or duration: ${JSON.stringify(row)}`
    // Closed while the run ran (a second's slack for clock steps), and began MS before that.
    const closed = Date.parse(String(row.time))
    const began = Date.parse(String(r.startedAt))
    if (!(closed >= began - 1000 && closed <= began + r.seconds * 1000 + 1000)) return `closed at ${row.time}, not during the run (${r.startedAt}, ${r.seconds} s): ${JSON.stringify(row)}`
    if (typeof row.start !== 'string' || Math.abs(closed - Date.parse(row.start) - Number(row.ms)) > 2) return `began at ${row.start}, not ${row.ms} ms before ${row.time}`
    if (!TCP_BYTES_KNOWN.has(candidate) && !calibrated) {
      if (row.txKb !== null || row.rxKb !== null) return `${candidate} cannot know the bytes, yet gave ${row.txKb} and ${row.rxKb} KiB`
      continue
    }
    if (typeof row.txKb !== 'number' || Math.abs(row.txKb - kb(TCP.send)) > 1) return `TX ${row.txKb} KiB, expected ${kb(TCP.send)} within 1`
    if (typeof row.rxKb !== 'number' || Math.abs(row.rxKb - kb(TCP.reply)) > 1) return `RX ${row.rxKb} KiB, expected ${kb(TCP.reply)} within 1`
  }
  if (new Set(rows.map((row) => row.pid)).size !== 1 || rows[0].pid === null) return `rows not all of one known process: ${rows.map((row) => row.pid).join(', ')}`
  if (new Set(rows.map((row) => row.lport)).size !== TCP.sessions) return `local ports not one per session: ${rows.map((row) => row.lport).join(', ')}`
  return undefined
}

/**
 * A shell script: a diag-tcp server on `address` (127.0.0.1) replying `reply` bytes (1000) to each
 * session, `sessions` client sessions sending `send` bytes (1000) each to it, then the server
 * killed. Exits with the client's status.
 */
export function tcpSessions(workload: string, {address = '127.0.0.1', sessions, send = 1000, reply = 1000}: {address?: string; sessions: number; send?: number; reply?: number}): string {
  const port = `/tmp/diag-tcp-port.$$`
  return [
    `${workload} server ${address} ${reply} > ${port} & server=$!`,
    `for i in $(seq 100); do grep -q port ${port} && break; sleep 0.1; done`,
    `${workload} client ${address} $(cut -d" " -f2 ${port}) ${sessions} ${send} > /dev/null; status=$?`,
    `kill $server; rm -f ${port}; exit $status`,
  ].join('; ')
}

/**
 * tcprtt's known answer on tcpSessions: each session's server socket receives the client's data
 * and its FIN while established (2 samples; the client's socket adds the ACK of its data when
 * that comes before its FIN: at most 3 a session), all labelled with the loopback address (with
 * --by-host), RTTs of loopback (well under 10 ms even emulated). On the host, other loopback
 * traffic while it runs can only add samples; a lab kernel (`alone`) has none.
 */
export function tcprttWrong(r: ToolResult, host: string | null, sessions: number, alone: boolean): string | undefined {
  const labelKey = host ? 'host' : null
  const data = r.intervals[0]?.data as Histograms | undefined
  if (data && (data.unit !== 'usecs' || data.labelKey !== labelKey)) return `unit ${data.unit}, labelKey ${data.labelKey}: expected usecs, ${labelKey}`
  const histograms = r.intervals.flatMap((i) => (i.data as Histograms).histograms ?? [])
  const stray = histograms.find((h) => (host ? !h.label : h.label !== null))
  if (stray) return `a histogram labelled ${JSON.stringify(stray.label)}`
  const wrong = within(`RTT samples${host ? ` from ${host}` : ''}`, histogramTotal(r, host), 2 * sessions, alone ? 3 * sessions : Infinity)
  if (wrong) return wrong
  const median = histograms.find((h) => h.label === host)?.percentiles?.p50?.high ?? 0
  return median >= 10_000 ? `median RTT up to ${median} us: not loopback` : undefined
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
        args: (env) => ['offcputime', ...force, '--json', '--', ...(candidate === 'perf-record' ? (env.offcpuPin ?? []) : []), env.offcpuWorkload],
        check: (r, env) => offcpuWrong(r, env),
      }
    case 'offwaketime':
      return {
        tool,
        candidate,
        args: (env) => ['offwaketime', ...force, '--json', '--', ...(candidate === 'perf-record' ? (env.offcpuPin ?? []) : []), env.offcpuWorkload, 'wake'],
        check: (r, env) => offwakeWrong(r, env),
      }
    case 'tcpdrop':
      return {
        tool,
        candidate,
        // Connects to a closed loopback port: each SYN is answered by a reset and dropped, no socket.
        args: (env) => ['tcpdrop', ...force, '--json', '--', env.tcpWorkload, 'refused', '127.0.0.1', String(env.closedPort), String(N.refused)],
        check: (r, env, rows) => tcpdropWrong(r, env, rows),
      }
    case 'profile':
      return {
        tool,
        candidate,
        args: (env) => ['profile', ...force, '--json', '--', env.spinWorkload, String(SPIN.ms)],
        check: (r) => spinWrong(r),
      }
    case 'tcplife':
      return {
        tool,
        candidate,
        // The client only (the server runs apart): a row per session it opened, each to the server's port.
        args: (env) => ['tcplife', ...force, '--json', '--', env.tcpWorkload, 'client', '127.0.0.1', env.tcpPort, String(TCP.sessions), String(TCP.send)],
        check: (r, env, rows) => tcplifeWrong(r, rows, Number(env.tcpPort), env.name !== 'host'),
      }
    case 'tcprtt': {
      // Hist triggers cannot key by address (tools/tcprtt/tool.ts): that candidate gives the total.
      const byHost = candidate !== 'ftrace-hist'
      return {
        tool,
        candidate,
        passesOver: byHost ? ['ftrace-hist'] : [],
        args: (env) => ['tcprtt', ...(byHost ? ['--by-host'] : []), ...force, '--json', '--', 'sh', '-c', tcpSessions(env.tcpWorkload, {sessions: N.tcpSessions})],
        check: (r, env) => tcprttWrong(r, byHost ? '127.0.0.1' : null, N.tcpSessions, env.name !== 'host'),
      }
    }
    case 'tcptop':
      return {
        tool,
        candidate,
        args: (env) => ['tcptop', ...force, '--json', '--top', '100', '--', 'sh', '-c', tcpSessions(env.tcpWorkload, {sessions: TCPTOP.sessions, send: TCPTOP.send, reply: TCPTOP.reply})],
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
